#!/usr/bin/env node
// Library entry points in a child process (so wall time and peak RSS compare with the CLI):
//   node bench/lib-op.mjs pull <host> <repo> <tag> <outDir> [concurrency]
//   node bench/lib-op.mjs push <host> <repo> <tag> <cwd> <file>...
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist');
const { RegistryClient } = await import(join(dist, 'registry', 'client.js'));
const { Repository } = await import(join(dist, 'registry', 'repository.js'));
const [op, host, repoName, tag, dir, ...rest] = process.argv.slice(2);
const client = new RegistryClient({ plainHttp: true });
const repo = new Repository({ reference: `${host}/${repoName}`, client });
try {
  if (op === 'pull') {
    const { pullArtifact } = await import(join(dist, 'artifact', 'pull.js'));
    const concurrency = rest[0] ? Number(rest[0]) : undefined;
    await pullArtifact(repo, tag, dir, concurrency ? { concurrency } : {});
  } else if (op === 'push') {
    const { packArtifact } = await import(join(dist, 'artifact', 'pack.js'));
    await packArtifact(repo, { files: rest.map((p) => ({ path: p })), cwd: dir, tags: [tag] });
  } else {
    throw new Error(`unknown op ${op}`);
  }
} finally {
  await client.close?.();
}
