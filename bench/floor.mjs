#!/usr/bin/env node
// The registry "floor": the least work a client must do to push/pull the same blobs — raw
// concurrent HEAD/POST/PUT (push) or GET (pull) with undici, hashing every byte like a real
// client must, no retries, no progress, no atomic renames.
//   node bench/floor.mjs push <baseUrl> <repo> <tag> <concurrency> <dir>
//   node bench/floor.mjs pull <baseUrl> <repo> <tag> <concurrency> <outDir>
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { newAgent, pool, pushArtifact, getManifest, MT } from './lib/raw.mjs';
import { request } from 'undici';

const [mode, base, repo, tag, concStr, dir] = process.argv.slice(2);
const concurrency = Number(concStr);
if (!mode || !base || !repo || !tag || !dir || !(concurrency > 0)) {
  console.error('usage: floor.mjs push|pull <baseUrl> <repo> <tag> <concurrency> <dir>');
  process.exit(2);
}
const d = newAgent(concurrency);

if (mode === 'push') {
  const names = (await readdir(dir)).sort();
  const files = await pool(names, concurrency, async (name) => {
    const data = await readFile(join(dir, name));
    return { name, size: data.length, data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
  });
  await pushArtifact(d, base, repo, tag, files, concurrency);
} else if (mode === 'pull') {
  await mkdir(dir, { recursive: true });
  const { manifest } = await getManifest(d, base, repo, tag);
  await pool(manifest.layers, concurrency, async (layer) => {
    const res = await request(`${base}/v2/${repo}/blobs/${layer.digest}`, { dispatcher: d });
    if (res.statusCode !== 200) throw new Error(`GET ${layer.digest}: ${res.statusCode}`);
    const data = Buffer.from(await res.body.arrayBuffer());
    const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (got !== layer.digest || data.length !== layer.size) throw new Error(`digest mismatch ${layer.digest}`);
    const name = layer.annotations?.[MT.title];
    if (!name || name.includes('/')) throw new Error('bad title');
    await writeFile(join(dir, name), data);
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
await d.close();
