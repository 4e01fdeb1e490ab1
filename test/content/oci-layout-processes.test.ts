/**
 * Cross-process safety of OciLayoutStore index.json updates: two node processes tag the same
 * layout concurrently; no tag may be lost. The children run the compiled store (tsc into a temp dir).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { MemoryStore } from '../../src/content/memory.js';
import { collect, compileForChild, pushImage } from './fixtures.js';

let work: string;
let outDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oras-layout-proc-'));
  outDir = join(work, 'dist');
  await compileForChild('content/oci-layout.ts', outDir);
  await writeFile(
    join(outDir, 'tagger.mjs'),
    `import { OciLayoutStore } from './content/oci-layout.js';
const [dir, prefix, n, descJson, manifestJson] = process.argv.slice(2);
const s = await OciLayoutStore.open(dir);
const desc = JSON.parse(descJson);
const own = JSON.parse(manifestJson);
await s.push(own.desc, Buffer.from(own.bytes, 'base64'));
for (let i = 0; i < Number(n); i++) await s.tag(i % 2 ? desc : own.desc, prefix + i);
`,
  );
}, 180_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function run(args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(outDir, 'tagger.mjs'), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
      killSignal: 'SIGKILL',
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`tagger exited ${code}: ${err}`))));
  });
}

describe('OciLayoutStore across processes', () => {
  it('two processes tagging 20 tags each lose none', async () => {
    const layout = join(work, 'layout');
    const store = await OciLayoutStore.open(layout);
    const shared = await pushImage(store);
    // each child pushes its own manifest document too (recorded untagged, then tagged)
    const mem = new MemoryStore();
    const own = await Promise.all([
      pushImage(mem, { config: '{"a":1}', layers: ['x'] }),
      pushImage(mem, { config: '{"b":2}', layers: ['y'] }),
    ]);
    for (const img of own) {
      await store.push(img.config, img.configBytes);
      for (const l of img.layers) await store.push(l.desc, l.bytes);
    }
    const arg = (i: 0 | 1): string =>
      JSON.stringify({ desc: own[i]!.manifest, bytes: own[i]!.manifestBytes.toString('base64') });
    await Promise.all([
      run([layout, 'a', '20', JSON.stringify(shared.manifest), arg(0)]),
      run([layout, 'b', '20', JSON.stringify(shared.manifest), arg(1)]),
    ]);
    const tags = await collect(store.tags());
    expect(tags.length).toBe(40);
    expect(tags).toContain('a19');
    expect(tags).toContain('b0');
    expect((await store.resolve('a1')).digest).toBe(shared.manifest.digest);
    expect((await store.resolve('a0')).digest).toBe(own[0]!.manifest.digest);
    expect((await store.resolve('b2')).digest).toBe(own[1]!.manifest.digest);
  });
});
