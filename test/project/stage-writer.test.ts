/*
 * The writer thread of prefilled stages (src/project/apply/stage-writer.ts): it creates files
 * (and their directories) below a directory reached through its /proc/self/fd route, never
 * through an existing name, with the asked modes, and reports each file's stat in order; a
 * failure stops the job (nothing of it written after) and is reported by `finish`.
 */
import { closeSync, lstatSync, mkdirSync, openSync, constants as C, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../artifact/helpers.js';
import { isOrasError } from '../../src/errors.js';
import { StageWriter } from '../../src/project/apply/stage-writer.js';

const tempDir = useTempDirs();
const linux = process.platform === 'linux';
const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) closeSync(fd);
});

/** The /proc/self/fd route of directory `dir` (kept open until the test ends). */
function route(dir: string): string {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  opened.push(fd);
  return `/proc/self/fd/${fd}`;
}

describe.runIf(linux)('StageWriter', () => {
  it('writes every queued file with its bytes, directories and mode, and reports their stats in order', async () => {
    const dir = await tempDir();
    const writer = new StageWriter(64 * 1024); // a small budget: the queue waits on the thread
    try {
      const job = writer.job(route(dir));
      const n = 700; // several batches
      let waited = 0;
      for (let i = 0; i < n; i++) {
        const rel = `d${i % 3}/sub/f${i}.txt`;
        const wait = job.file(rel, i % 5 === 0 ? 0o755 : 0o644, Buffer.from(`file ${i}\n`.repeat(i % 7)));
        if (wait !== undefined) {
          waited += 1;
          await wait;
        }
      }
      const placed = await job.finish();
      expect(waited).toBeGreaterThan(0);
      expect(placed).toHaveLength(n);
      for (const i of [0, 1, 5, 350, 699]) {
        const path = join(dir, `d${i % 3}/sub/f${i}.txt`);
        expect(await readFile(path, 'utf8')).toBe(`file ${i}\n`.repeat(i % 7));
        const st = lstatSync(path);
        expect(st.mode & 0o777).toBe(i % 5 === 0 ? 0o755 : 0o644);
        expect(placed[i]).toEqual({ size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
      expect((await readdir(join(dir, 'd1/sub'))).length).toBe(233);
    } finally {
      await writer.close();
    }
  });

  it('never writes through an existing name: the job fails and writes nothing after it', async () => {
    const dir = await tempDir();
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a/f3.txt'), 'there before\n');
    const writer = new StageWriter();
    try {
      const job = writer.job(route(dir));
      for (let i = 0; i < 600; i++) await job.file(`a/f${i}.txt`, 0o644, Buffer.from(`new ${i}\n`));
      const err = await job.finish().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isOrasError(err, 'ERR_ORAS_IO')).toBe(true);
      expect(String((err as Error).message)).toMatch(/EEXIST/);
      expect(await readFile(join(dir, 'a/f3.txt'), 'utf8')).toBe('there before\n');
      expect((await readdir(join(dir, 'a'))).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt']);
      // Another job of the same thread is not affected.
      const other = await tempDir();
      const second = writer.job(route(other));
      second.file('x/y.txt', 0o644, Buffer.from('y'));
      expect(await second.finish()).toHaveLength(1);
      expect(await readFile(join(other, 'x/y.txt'), 'utf8')).toBe('y');
    } finally {
      await writer.close();
    }
  });

  it('a job still writing when the writer closes fails instead of hanging', async () => {
    const dir = await tempDir();
    const writer = new StageWriter();
    const job = writer.job(route(dir));
    for (let i = 0; i < 300; i++) job.file(`f${i}`, 0o644, Buffer.from('x'));
    const finished = job.finish().then(
      () => 'written',
      (e: unknown) => (isOrasError(e, 'ERR_ORAS_IO') ? 'failed' : String(e)),
    );
    await writer.close();
    expect(['written', 'failed']).toContain(await finished);
  });
});
