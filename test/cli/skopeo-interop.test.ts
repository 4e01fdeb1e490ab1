// CLI ↔ skopeo interop against the real registry, both directions, byte-for-byte.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayoutStore, fetchAll } from '../../src/index.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { dockerRef, skopeo, skopeoDestFlags, skopeoSrcFlags } from '../harness/skopeo.js';
import { baseEnv, ensureBuilt, runCli } from './helpers.js';

describe('oras CLI ↔ skopeo', () => {
  let work: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    ensureBuilt();
    work = await mkdtemp(join(tmpdir(), 'oras-cli-skopeo-'));
    await mkdir(join(work, 'docker'));
    env = baseEnv(join(work, 'docker'));
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  it('what `oras push` stores, skopeo copies out byte-identically', async () => {
    const reg = registry('plain');
    const repo = uniqueRepo('cli-to-skopeo');
    await writeFile(join(work, 'a.txt'), 'pushed by oras-ts\n');
    await writeFile(join(work, 'config.json'), '{"name":"foo","value":"bar"}\n');
    const push = await runCli(
      [
        'push',
        `${reg.host}/${repo}:v1`,
        '--format',
        'json',
        '--config',
        'config.json:application/vnd.acme.config.v1+json',
        'a.txt:text/plain',
      ],
      env,
      { cwd: work },
    );
    expect(push.code, push.stderr).toBe(0);
    const pushed = JSON.parse(push.stdout) as { digest: string };

    const out = join(work, 'skopeo-out');
    await skopeo(['copy', '--preserve-digests', ...skopeoSrcFlags(reg), dockerRef(reg, repo, 'v1'), `oci:${out}:v1`]);
    const theirs = await OciLayoutStore.open(out, { readOnly: true, create: false });
    const desc = await theirs.resolve('v1');
    expect(desc.digest).toBe(pushed.digest);
    const manifest = JSON.parse((await fetchAll(theirs, desc, 4 << 20)).toString()) as {
      layers: { digest: string; size: number; mediaType: string }[];
    };
    const layer = manifest.layers[0]!;
    expect((await fetchAll(theirs, layer, 1 << 20)).toString()).toBe('pushed by oras-ts\n');
  });

  it('what skopeo pushes, `oras pull` and `oras cp` read byte-identically', async () => {
    const reg = registry('plain');
    const repo = uniqueRepo('skopeo-to-cli');
    // Build a source layout with our library (a titled file layer), push it with skopeo.
    const src = join(work, 'src-layout');
    await writeFile(join(work, 'b.txt'), 'pushed by skopeo\n');
    const pushLayout = await runCli(
      ['push', '--oci-layout', `${src}:v1`, 'b.txt:text/plain', '--format', 'json'],
      env,
      { cwd: work },
    );
    expect(pushLayout.code, pushLayout.stderr).toBe(0);
    const srcDigest = (JSON.parse(pushLayout.stdout) as { digest: string }).digest;
    await skopeo(['copy', '--preserve-digests', ...skopeoDestFlags(reg), `oci:${src}:v1`, dockerRef(reg, repo, 'v1')]);

    const pulled = join(work, 'pulled');
    const pull = await runCli(['pull', `${reg.host}/${repo}:v1`, '-o', pulled, '--format', 'json'], env, { cwd: work });
    expect(pull.code, pull.stderr).toBe(0);
    expect(await readFile(join(pulled, 'b.txt'), 'utf8')).toBe('pushed by skopeo\n');

    const copyDir = join(work, 'cp-layout');
    const cp = await runCli(['cp', `${reg.host}/${repo}:v1`, `${copyDir}:v1`, '--to-oci-layout'], env, { cwd: work });
    expect(cp.code, cp.stderr).toBe(0);
    const ours = await OciLayoutStore.open(copyDir, { readOnly: true, create: false });
    const desc = await ours.resolve('v1');
    expect(desc.digest).toBe(srcDigest);
    const original = await OciLayoutStore.open(src, { readOnly: true, create: false });
    expect(await fetchAll(ours, desc, 4 << 20)).toEqual(
      await fetchAll(original, await original.resolve('v1'), 4 << 20),
    );
  });
});
