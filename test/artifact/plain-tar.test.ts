// Plain tars (oras backup/restore) go through the one tar implementation of src/artifact.
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractTarGz, writeDirectoryTar } from '../../src/artifact/tar.js';
import { bufferStream, craftTarGz, listTree, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

describe('writeDirectoryTar + extractTarGz({ compression: "none" })', () => {
  it('round-trips a layout-shaped tree: names relative to the root, reproducible, atomic output', async () => {
    const root = await tmp();
    const dir = path.join(root, 'layout');
    await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    await writeFile(path.join(dir, 'blobs', 'sha256', 'ab'), Buffer.alloc(3000, 1));
    const a = path.join(root, 'a.tar');
    const b = path.join(root, 'b.tar');
    expect(await writeDirectoryTar(dir, a)).toBe(5);
    await writeDirectoryTar(dir, b);
    expect(await readFile(a)).toEqual(await readFile(b));
    expect(await readdir(root)).toEqual(['a.tar', 'b.tar', 'layout']); // no temp file left
    // Entry names as oras writes them: no root entry, no leading "./".
    const text = (await readFile(a)).toString('latin1');
    expect(text.startsWith('blobs/')).toBe(true);

    const out = path.join(root, 'out');
    const r = await extractTarGz(createReadStream(a), out, {
      compression: 'none',
      maxUncompressedBytes: (await stat(a)).size,
    });
    expect(r.entries).toBe(5);
    expect(await listTree(out)).toEqual(await listTree(dir));
    expect(await readFile(path.join(out, 'index.json'), 'utf8')).toBe('{"schemaVersion":2,"manifests":[]}');
  });

  it('a tree it refuses (a FIFO) leaves no temp file beside the output once the error is reported', async () => {
    const root = await tmp();
    const dir = path.join(root, 'tree');
    await mkdir(dir);
    await writeFile(path.join(dir, 'a-big'), Buffer.alloc(4 << 20, 7)); // packed first: the writer has started
    execFileSync('mkfifo', [path.join(dir, 'z-fifo')]);
    await expect(writeDirectoryTar(dir, path.join(root, 'out.tar'))).rejects.toMatchObject({
      code: 'ERR_ORAS_UNSUPPORTED',
    });
    expect(await readdir(root)).toEqual(['tree']);
  });

  it('a plain tar gets the same refusals as a layer: escaping names, links out, devices', async () => {
    const root = await tmp();
    const cases = [
      [{ name: '../evil', content: 'x' }],
      [{ name: 'link', type: 'symlink' as const, linkname: '../../etc' }],
      [{ name: 'dev', type: 'character-device' as const }],
    ];
    for (const [i, entries] of cases.entries()) {
      const plain = gunzipSync(await craftTarGz(entries));
      const dest = path.join(root, `out${i}`);
      await expect(extractTarGz(bufferStream(plain), dest, { compression: 'none' })).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_ORAS_(PATH_TRAVERSAL|UNSUPPORTED)$/),
      });
      await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' }); // nothing placed
    }
  });

  it('the size cap bounds a plain tar too', async () => {
    const root = await tmp();
    const plain = gunzipSync(await craftTarGz([{ name: 'big', content: 'y'.repeat(10_000) }]));
    await expect(
      extractTarGz(bufferStream(plain), path.join(root, 'o'), { compression: 'none', maxUncompressedBytes: 4096 }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_LIMIT_EXCEEDED' });
  });
});
