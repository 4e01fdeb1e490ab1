import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packArtifact } from '../../src/artifact/pack.js';
import { pullArtifact } from '../../src/artifact/pull.js';
import type { TransferEvent } from '../../src/events.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { dockerRef, skopeo, skopeoImageFlags, skopeoSrcFlags } from '../harness/skopeo.js';
import { listTree, useTempDirs } from './helpers.js';

const run = promisify(execFile);
const tmp = useTempDirs();

describe('artifact push/pull against docker-registry 2.8.2', () => {
  it('pushes reproducibly, skips on re-push, pulls back, and the blobs are standard (skopeo + GNU tar)', async () => {
    const info = registry('plain');
    const repoName = uniqueRepo('artifact/roundtrip');
    const client = new RegistryClient({ plainHttp: true });
    const repo = new Repository({ reference: { registry: info.host, repository: repoName }, client });
    const cwd = await tmp();
    await writeFile(path.join(cwd, 'notes.txt'), 'notes\n');
    await mkdir(path.join(cwd, 'bundle', 'bin'), { recursive: true });
    await writeFile(path.join(cwd, 'bundle', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
    await chmod(path.join(cwd, 'bundle', 'bin', 'tool'), 0o755);
    await writeFile(path.join(cwd, 'bundle', 'big.bin'), Buffer.alloc(300_000, 1));
    await symlink('bin/tool', path.join(cwd, 'bundle', 'tool'));

    const files = [{ path: 'notes.txt', mediaType: 'text/plain' }, { path: 'bundle' }];
    const first = await packArtifact(repo, {
      cwd,
      files,
      artifactType: 'application/vnd.example.bundle',
      tags: ['v1'],
    });
    const events: TransferEvent[] = [];
    const second = await packArtifact(repo, {
      cwd,
      files,
      artifactType: 'application/vnd.example.bundle',
      tags: ['v1'],
      onEvent: (e) => events.push(e),
    });
    expect(second.descriptor.digest).toBe(first.descriptor.digest);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.type === 'skip')).toBe(true);

    // skopeo sees exactly our manifest bytes
    const raw = await skopeo(['inspect', '--raw', ...skopeoImageFlags(info), dockerRef(info, repoName, 'v1')]);
    expect(Buffer.from(raw).equals(first.manifestBytes)).toBe(true);

    // GNU tar reads the directory layer: root named after the title, normalized owners
    const layout = path.join(await tmp(), 'layout');
    await skopeo(['copy', ...skopeoSrcFlags(info), dockerRef(info, repoName, 'v1'), `oci:${layout}:v1`]);
    const dirLayer = first.manifest.layers[1];
    expect(dirLayer).toBeDefined();
    const blobPath = path.join(layout, 'blobs', 'sha256', dirLayer!.digest.slice(7));
    const { stdout } = await run('tar', ['-tvzf', blobPath, '--numeric-owner']);
    const lines = stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/).slice(5).join(' '))).toEqual([
      'bundle/',
      'bundle/big.bin',
      'bundle/bin/',
      'bundle/bin/tool',
      'bundle/tool -> bin/tool',
    ]);
    for (const l of lines) expect(l).toMatch(/ 0\/0 /);
    expect(lines[3]).toMatch(/^-rwxr-xr-x/);
    expect(lines[1]).toMatch(/^-rw-r--r--/);

    // pull back with our client
    const out = path.join(await tmp(), 'out');
    const pulled = await pullArtifact(repo, 'v1', out);
    expect(pulled.files.map((f) => f.path)).toEqual(['notes.txt', 'bundle']);
    expect(await listTree(out)).toEqual([
      'bundle',
      'bundle/big.bin',
      'bundle/bin',
      'bundle/bin/tool',
      'bundle/tool',
      'notes.txt',
    ]);
    expect(await readFile(path.join(out, 'bundle', 'big.bin'))).toEqual(Buffer.alloc(300_000, 1));
    expect((await stat(path.join(out, 'bundle', 'bin', 'tool'))).mode & 0o100).toBe(0o100);
    expect(await readlink(path.join(out, 'bundle', 'tool'))).toBe('bin/tool');
  });

  it('pulls a tag with one manifest request (GET by tag, no HEAD) and refuses a digest header the bytes do not match', async () => {
    const info = registry('plain');
    const repoName = uniqueRepo('artifact/one-get');
    const client = new RegistryClient({ plainHttp: true });
    const cwd = await tmp();
    await writeFile(path.join(cwd, 'a.txt'), 'one get\n');
    const direct = new Repository({ reference: { registry: info.host, repository: repoName }, client });
    const pushed = await packArtifact(direct, { cwd, files: [{ path: 'a.txt' }], tags: ['v1'] });

    const proxy = await startFaultProxy(info.url);
    try {
      const repo = new Repository({ reference: { registry: proxy.host, repository: repoName }, client });
      const pulled = await pullArtifact(repo, 'v1', path.join(await tmp(), 'out'));
      expect(pulled.descriptor.digest).toBe(pushed.descriptor.digest);
      const manifestRequests = proxy.requests.filter((r) => r.url.includes('/manifests/'));
      expect(manifestRequests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET /v2/${repoName}/manifests/v1`]);

      // The registry's word for the digest must match the bytes it sent.
      proxy.addFault({
        method: 'GET',
        path: /\/manifests\/v1$/,
        fault: {
          kind: 'status',
          status: 200,
          headers: {
            'content-type': pushed.descriptor.mediaType,
            'docker-content-digest': `sha256:${'0'.repeat(64)}`,
          },
          body: pushed.manifestBytes.toString('utf8'),
        },
      });
      const out2 = path.join(await tmp(), 'out2');
      await expect(pullArtifact(repo, 'v1', out2)).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    } finally {
      await proxy.close();
    }
  });
});
