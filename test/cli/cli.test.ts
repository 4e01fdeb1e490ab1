/**
 * Behaviour of the built CLI against the harness registries (and OCI layouts
 * with no server): round trips, copies, referrers, idempotent pushes, path
 * traversal refusal, JSON output shapes, exit codes and error formatting.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { baseEnv, ensureBuilt, runCli, show, tempDir, type CliResult } from './helpers.js';

let root: string;
let env: Record<string, string>;
let cleanup: () => Promise<void>;
const T = 180_000;

async function oras(args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  return runCli(args, env, {
    cwd: options.cwd ?? root,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

async function ok(args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  const r = await oras(args, options);
  expect(r.code, show(r)).toBe(0);
  return r;
}

function json<T = Record<string, unknown>>(r: CliResult): T {
  return JSON.parse(r.stdout) as T;
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function noStack(r: CliResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-cli-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  env = { ...baseEnv(join(root, 'docker')), HOME: root };
  await writeFile(join(root, 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'b.bin'), Buffer.from([0, 1, 2, 3, 255]));
  await mkdir(join(root, 'tree', 'sub'), { recursive: true });
  await writeFile(join(root, 'tree', 'one.txt'), 'one\n');
  await writeFile(join(root, 'tree', 'sub', 'two.txt'), 'two\n');
});

afterAll(async () => {
  await cleanup?.();
});

describe('OCI layout (no server)', () => {
  it(
    'push → pull round trip through --oci-layout, files and directories byte-identical',
    async () => {
      const layout = join(root, 'layout1');
      const push = json(
        await ok([
          'push',
          '--oci-layout',
          `${layout}:v1`,
          'a.txt',
          'b.bin:application/x-bin',
          'tree',
          '--format',
          'json',
        ]),
      );
      expect(push).toMatchObject({ mediaType: 'application/vnd.oci.image.manifest.v1+json', tags: ['v1'] });
      expect(existsSync(join(layout, 'oci-layout'))).toBe(true);
      const out = join(root, 'out1');
      const pull = json<{ files: { path: string }[]; digest: string }>(
        await ok(['pull', '--oci-layout', `${layout}:v1`, '-o', out, '--format', 'json']),
      );
      expect(pull.digest).toBe(push.digest);
      // oras 1.3: files[].path is absolute; a directory ends with the separator.
      expect(pull.files.map((f) => f.path).sort()).toEqual([
        join(out, 'a.txt'),
        join(out, 'b.bin'),
        `${join(out, 'tree')}/`,
      ]);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
      expect(await readFile(join(out, 'b.bin'))).toEqual(Buffer.from([0, 1, 2, 3, 255]));
      expect(await readFile(join(out, 'tree', 'sub', 'two.txt'), 'utf8')).toBe('two\n');
      // resolve/tag/repo tags work on layouts too
      const digest = (await ok(['resolve', '--oci-layout', `${layout}:v1`])).stdout.trim();
      expect(digest).toBe(push.digest);
      await ok(['tag', '--oci-layout', `${layout}:v1`, 'v1-alias']);
      expect(
        json<{ tags: string[] }>(await ok(['repo', 'tags', '--oci-layout', layout, '--format', 'json'])).tags.sort(),
      ).toEqual(['v1', 'v1-alias']);
    },
    T,
  );
});

describe('registry', () => {
  it(
    'push the same inputs twice: same digest, second push uploads nothing',
    async () => {
      const REG = registry('plain').host;
      const ref = `${REG}/${uniqueRepo('cli/idem')}:v1`;
      const first = json<{ digest: string; transfer: { uploaded: number; exists: number } }>(
        await ok(['push', ref, 'a.txt', 'b.bin', '--format', 'json']),
      );
      expect(first.transfer.uploaded).toBe(4); // config + 2 layers + manifest
      const second = json<{ digest: string; transfer: { uploaded: number; exists: number } }>(
        await ok(['push', ref, 'a.txt', 'b.bin', '--format', 'json']),
      );
      expect(second.digest).toBe(first.digest);
      expect(second.transfer).toMatchObject({ uploaded: 0, exists: 4 });
      const third = await ok(['push', ref, 'a.txt', 'b.bin', '--no-tty']);
      const lines = third.stderr.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThanOrEqual(4);
      for (const l of lines) expect(l).toMatch(/^Exists\s+sha256:[a-f0-9]{12} /);
      expect(third.stdout).toContain(`Digest: ${first.digest}`);
    },
    T,
  );

  it(
    'cp registry → registry, registry → layout, layout → registry',
    async () => {
      const REG = registry('plain').host;
      const src = `${REG}/${uniqueRepo('cli/cp-src')}:v1`;
      const pushed = json<{ digest: string }>(await ok(['push', src, 'a.txt', '--format', 'json']));
      const dst = `${REG}/${uniqueRepo('cli/cp-dst')}`;
      const cp1 = json<{ digest: string; tags: string[] }>(
        await ok(['cp', src, `${dst}:copied,extra`, '--format', 'json']),
      );
      expect(cp1).toMatchObject({ digest: pushed.digest, tags: ['copied', 'extra'] });
      expect((await ok(['resolve', `${dst}:extra`])).stdout.trim()).toBe(pushed.digest);

      const layout = join(root, 'cp-layout');
      await ok(['cp', src, '--to-oci-layout', `${layout}:saved`]);
      expect((await ok(['resolve', '--oci-layout', `${layout}:saved`])).stdout.trim()).toBe(pushed.digest);

      const back = `${REG}/${uniqueRepo('cli/cp-back')}:restored`;
      const cp3 = await ok(['copy', '--from-oci-layout', `${layout}:saved`, back]);
      expect(cp3.stdout).toContain(`Digest: ${pushed.digest}`);
      const out = join(root, 'cp-out');
      await ok(['pull', back, '-o', out]);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
    },
    T,
  );

  it(
    'attach + discover through the referrers tag fallback (registry 2.8.2), tree/table/json',
    async () => {
      const REG = registry('plain').host;
      const ref = `${REG}/${uniqueRepo('cli/refs')}:v1`;
      const subject = json<{ digest: string }>(await ok(['push', ref, 'a.txt', '--format', 'json']));
      await writeFile(join(root, 'sbom.json'), '{"sbom":true}\n');
      const sbom = json<{ digest: string; subject: { digest: string } }>(
        await ok(['attach', ref, '--artifact-type', 'application/vnd.example.sbom', 'sbom.json', '--format', 'json']),
      );
      expect(sbom.subject.digest).toBe(subject.digest);
      const repo = ref.replace(/:v1$/, '');
      const sig = await ok([
        'attach',
        `${repo}@${sbom.digest}`,
        '--artifact-type',
        'application/vnd.example.sig',
        '-a',
        'signed=yes',
      ]);
      expect(sig.stdout).toContain('Attached to');

      const tree = (await ok(['discover', ref])).stdout;
      expect(tree).toContain('application/vnd.example.sbom');
      expect(tree).toContain(sbom.digest);
      expect(tree).toContain('application/vnd.example.sig');
      const d = json<{
        digest: string;
        referrers: {
          digest: string;
          artifactType: string;
          referrers: { artifactType: string; annotations: Record<string, string> }[];
        }[];
      }>(await ok(['discover', ref, '--format', 'json']));
      expect(d.digest).toBe(subject.digest);
      expect(d.referrers).toHaveLength(1);
      expect(d.referrers[0]).toMatchObject({ digest: sbom.digest, artifactType: 'application/vnd.example.sbom' });
      expect(d.referrers[0]?.referrers[0]).toMatchObject({
        artifactType: 'application/vnd.example.sig',
        annotations: { signed: 'yes' },
      });
      const filtered = json<{ referrers: unknown[] }>(
        await ok(['discover', ref, '--format', 'json', '--artifact-type', 'application/vnd.other']),
      );
      expect(filtered.referrers).toHaveLength(0);
      const table = (await ok(['discover', ref, '--format', 'table'])).stdout;
      expect(table).toMatch(/Digest\s+Size\s+Artifact Type/);
    },
    T,
  );

  it(
    'pull refuses a layer title that escapes the output directory (exit 1, clear message, nothing written outside)',
    async () => {
      const REG = registry('plain').host;
      const repo = `${REG}/${uniqueRepo('cli/evil')}`;
      const blob = json<{ digest: string; size: number }>(
        await ok(['blob', 'push', repo, 'a.txt', '--format', 'json']),
      );
      const cfg = json<{ digest: string; size: number }>(
        await ok(['blob', 'push', repo, '-', '--size', '2', '--format', 'json'], { input: '{}' }),
      );
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: cfg.digest, size: cfg.size },
        layers: [
          {
            mediaType: 'text/plain',
            digest: blob.digest,
            size: blob.size,
            annotations: { 'org.opencontainers.image.title': '../escaped.txt' },
          },
        ],
      };
      await writeFile(join(root, 'evil.json'), JSON.stringify(manifest));
      await ok(['manifest', 'push', `${repo}:evil`, 'evil.json']);
      const out = join(root, 'evil-out');
      await mkdir(out);
      const r = await oras(['pull', `${repo}:evil`, '-o', out]);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr).toMatch(/^Error: .*(outside|travers|escap)/im);
      noStack(r);
      expect(existsSync(join(root, 'escaped.txt'))).toBe(false);
    },
    T,
  );

  it(
    'JSON output shapes: push, pull, resolve, tag, repo tags, repo ls, manifest fetch --descriptor, blob fetch, version',
    async () => {
      const REG = registry('plain').host;
      const name = uniqueRepo('cli/json');
      const ref = `${REG}/${name}:v1`;
      const push = json(
        await ok(['push', ref, 'a.txt', '--artifact-type', 'application/vnd.test', '-a', 'k=v', '--format', 'json']),
      );
      expect(Object.keys(push).sort()).toEqual([
        'annotations',
        'artifactType',
        'digest',
        'mediaType',
        'reference',
        'referenceAsTags',
        'size',
        'tags',
        'transfer',
      ]);
      expect(push).toMatchObject({
        artifactType: 'application/vnd.test',
        annotations: { k: 'v' },
        reference: `${REG}/${name}@${String(push.digest)}`,
      });
      const pull = json(await ok(['pull', ref, '-o', join(root, 'json-out'), '--format', 'json']));
      expect(pull).toMatchObject({
        reference: `${REG}/${name}@${String(push.digest)}`,
        digest: push.digest,
        artifactType: 'application/vnd.test',
        files: [{ path: join(root, 'json-out', 'a.txt'), digest: sha256('alpha\n'), size: 6 }],
      });
      expect(json(await ok(['resolve', ref, '--format', 'json']))).toMatchObject({
        digest: push.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
      });
      expect(json(await ok(['tag', ref, 'v2', '--format', 'json']))).toMatchObject({
        digest: push.digest,
        tags: ['v2'],
      });
      expect(
        json<{ tags: string[] }>(await ok(['repo', 'tags', `${REG}/${name}`, '--format', 'json'])).tags.sort(),
      ).toEqual(['v1', 'v2']);
      expect(
        json<{ repositories: string[] }>(await ok(['repo', 'ls', REG, '--format', 'json'])).repositories,
      ).toContain(name);
      const desc = json(await ok(['manifest', 'fetch', ref, '--descriptor']));
      expect(desc).toEqual({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: push.digest,
        size: push.size,
      });
      const accepted = json(
        await ok([
          'manifest',
          'fetch',
          ref,
          '--media-type',
          'application/vnd.oci.image.manifest.v1+json',
          '--descriptor',
        ]),
      );
      expect(accepted).toEqual(desc);
      const refused = await oras([
        'manifest',
        'fetch',
        ref,
        '--media-type',
        'application/vnd.docker.distribution.manifest.v2+json',
      ]);
      expect(refused.code, show(refused)).toBe(3);
      const blob = await ok(['blob', 'fetch', `${REG}/${name}@${sha256('alpha\n')}`, '--output', '-']);
      expect(blob.stdout).toBe('alpha\n');
      expect(json(await ok(['version', '--format', 'json']))).toHaveProperty('version');
    },
    T,
  );

  it(
    'exit codes: 3 not found, 4 auth, 2 usage; errors are one line + hint, no stack',
    async () => {
      const plainReg = registry('plain').host;
      const missing = await oras(['pull', `${plainReg}/${uniqueRepo('cli/missing')}:nope`, '-o', join(root, 'nf')]);
      expect(missing.code, show(missing)).toBe(3);
      expect(missing.stderr.split('\n').filter(Boolean)[0]).toMatch(/^Error: /);
      noStack(missing);

      const basic = registry('basic');
      const denied = await oras(['resolve', `${basic.host}/${uniqueRepo('cli/auth')}:v1`]);
      expect(denied.code, show(denied)).toBe(4);
      expect(denied.stderr).toMatch(/^Hint: /m);
      noStack(denied);

      const wrong = await oras([
        'resolve',
        `${basic.host}/${uniqueRepo('cli/auth')}:v1`,
        '-u',
        'alice',
        '-p',
        'not-the-password',
        '--debug',
      ]);
      expect(wrong.code, show(wrong)).toBe(4);
      expect(wrong.stderr).toContain('[debug]');
      expect(wrong.stderr).toMatch(/insecure.*--password-stdin/);
      expect(wrong.stderr).not.toContain('not-the-password');
      expect(wrong.stderr).not.toContain(Buffer.from('alice:not-the-password').toString('base64'));

      const badFlag = await oras(['push', `${plainReg}/x:v1`, '--no-such-flag']);
      expect(badFlag.code).toBe(2);
      expect(badFlag.stderr).toMatch(/^Error: unknown option/m);
      const badRef = await oras(['resolve', 'not a reference']);
      expect(badRef.code).toBe(2);
      noStack(badRef);

      const json404 = await oras(['resolve', `${plainReg}/${uniqueRepo('cli/missing')}:nope`, '--format', 'json']);
      expect(json404.code).toBe(3);
      expect(JSON.parse(json404.stderr)).toMatchObject({ error: { code: 'ERR_ORAS_NOT_FOUND', exitCode: 3 } });
    },
    T,
  );

  it(
    'manifest delete without -f reads the answer from stdin (closed: cancelled); with -f the tag is gone (exit 3)',
    async () => {
      const REG = registry('plain').host;
      const ref = `${REG}/${uniqueRepo('cli/del')}:v1`;
      await ok(['push', ref, 'a.txt']);
      // oras 1.3: without -f the answer is read from stdin (closed here): cancelled, exit 0, nothing deleted.
      const refused = await oras(['manifest', 'delete', ref]);
      expect(refused.code).toBe(0);
      expect(refused.stdout).toContain('Operation cancelled.');
      expect((await oras(['resolve', ref])).code).toBe(0);
      const del = await ok(['manifest', 'delete', ref, '--force']);
      expect(del.stdout).toContain('Deleted');
      expect((await oras(['resolve', ref])).code).toBe(3);
    },
    T,
  );

  it(
    'backup to a .tar and restore into another repository (with referrers)',
    async () => {
      const REG = registry('plain').host;
      const repo = `${REG}/${uniqueRepo('cli/bk')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      await ok(['attach', `${repo}:v1`, '--artifact-type', 'application/vnd.example.note', 'b.bin']);
      const tarFile = join(root, 'backup.tar');
      const bk = json<{ artifacts: { digest: string }[] }>(
        await ok(['backup', `${repo}:v1`, '--output', tarFile, '--include-referrers', '--format', 'json']),
      );
      expect(bk.artifacts).toEqual([expect.objectContaining({ digest: pushed.digest, tag: 'v1' })]);
      const target = `${REG}/${uniqueRepo('cli/restored')}`;
      await ok(['restore', '--input', tarFile, target]);
      expect((await ok(['resolve', `${target}:v1`])).stdout.trim()).toBe(pushed.digest);
      const d = json<{ referrers: { artifactType: string }[] }>(
        await ok(['discover', `${target}:v1`, '--format', 'json']),
      );
      expect(d.referrers.map((m) => m.artifactType)).toEqual(['application/vnd.example.note']);
    },
    T,
  );
});

describe('TLS, token auth and the oras config file', () => {
  it(
    'TLS registry: fails without trust (exit 1, hint), works with --ca-file and with caFile from oras.yaml',
    async () => {
      const tls = registry('tls');
      const ref = `${tls.host}/${uniqueRepo('cli/tls')}:v1`;
      const plainToTls = await oras(['push', ref, 'a.txt']);
      expect(plainToTls.code, show(plainToTls)).toBe(1);
      expect(plainToTls.stderr).toMatch(/^Hint: .*--no-plain-http/m);
      const untrusted = await oras(['push', ref, 'a.txt', '--no-plain-http']);
      expect(untrusted.code, show(untrusted)).toBe(1);
      expect(untrusted.stderr).toMatch(/^Error: .*(certificate|TLS|self.signed|verify)/im);
      expect(untrusted.stderr).toMatch(/^Hint: /m);
      noStack(untrusted);
      const pushed = json<{ digest: string }>(
        await ok(['push', ref, 'a.txt', '--ca-file', tls.caFile!, '--format', 'json']),
      );

      const projectDir = join(root, 'tls-config');
      await mkdir(projectDir);
      await writeFile(
        join(projectDir, 'oras.yaml'),
        `registries:\n  "${tls.host}":\n    caFile: ${JSON.stringify(tls.caFile)}\n`,
      );
      // A CA override from a project file is honoured only once the file is trusted (see test/cli/trust.test.ts).
      await ok(['trust', 'oras.yaml'], { cwd: projectDir });
      const resolved = await ok(['resolve', ref], { cwd: projectDir });
      expect(resolved.stdout.trim()).toBe(pushed.digest);
    },
    T,
  );

  it(
    'a file over 16 MiB (read by our own HTTP/1.1 reader, written as it arrives) pulls back byte for byte over plain HTTP and TLS',
    async () => {
      const big = Buffer.alloc(17 * 1024 * 1024 + 321);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
      await writeFile(join(root, 'big.bin'), big);
      for (const mode of ['plain', 'tls'] as const) {
        const info = registry(mode);
        const trust = mode === 'tls' ? ['--ca-file', info.caFile!] : [];
        const ref = `${info.host}/${uniqueRepo(`cli/big-${mode}`)}:v1`;
        await ok(['push', ref, 'big.bin', ...trust]);
        const out = join(root, `big-out-${mode}`);
        await ok(['pull', ref, '-o', out, ...trust]);
        expect(sha256(await readFile(join(out, 'big.bin')))).toBe(sha256(big));
      }
    },
    T,
  );

  it(
    'token registry: login with --password-stdin into --registry-config, then push and pull use the stored credentials',
    async () => {
      const tok = registry('token');
      const user = tok.users.find((u) => u.access === 'push')!;
      const cfgFile = join(root, 'token-docker-config.json');
      const login = await ok(
        ['login', tok.host, '-u', user.username, '--password-stdin', '--registry-config', cfgFile],
        { input: `${user.password}\n` },
      );
      expect(login.stdout).toContain('Login Succeeded');
      expect(await readFile(cfgFile, 'utf8')).toContain(tok.host);
      const ref = `${tok.host}/${uniqueRepo('cli/token')}:v1`;
      await ok(['push', ref, 'a.txt', '--registry-config', cfgFile]);
      const out = join(root, 'token-out');
      await ok(['pull', ref, '-o', out, '-c', cfgFile]);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
      const anon = await oras(['pull', ref, '-o', out]);
      expect(anon.code, show(anon)).toBe(4);
    },
    T,
  );
});

describe('oras config file: mirrors and headers', () => {
  it(
    'pull tries the configured mirror first; headers from the config and -H reach the registry',
    async () => {
      const REG = registry('plain').host;
      const name = uniqueRepo('cli/mirror');
      const pushed = json<{ digest: string }>(await ok(['push', `${REG}/${name}:v1`, 'a.txt', '--format', 'json']));
      const projectDir = join(root, 'mirror-config');
      await mkdir(projectDir);
      // 127.0.0.1:9 (discard) is never reachable: only the mirror can serve the pull.
      await writeFile(
        join(projectDir, 'oras.yaml'),
        `registries:\n  "127.0.0.1:9":\n    mirrors: ["${REG}"]\n  "${REG}":\n    headers:\n      X-From-Config: config-value\n`,
      );
      const pull = json<{ digest: string }>(
        await ok(['pull', `127.0.0.1:9/${name}:v1`, '-o', join(projectDir, 'out'), '--format', 'json'], {
          cwd: projectDir,
        }),
      );
      expect(pull.digest).toBe(pushed.digest);
      expect(await readFile(join(projectDir, 'out', 'a.txt'), 'utf8')).toBe('alpha\n');

      const dbg = await ok(['resolve', `${REG}/${name}:v1`, '-H', 'X-From-Flag: flag-value', '--debug'], {
        cwd: projectDir,
      });
      expect(dbg.stderr.toLowerCase()).toContain('x-from-config: config-value');
      expect(dbg.stderr.toLowerCase()).toContain('x-from-flag: flag-value');
    },
    T,
  );
});

describe('push/pull extras', () => {
  it(
    '--annotation-file, --export-manifest, SOURCE_DATE_EPOCH, -k keeps old files',
    async () => {
      const REG = registry('plain').host;
      const ref = `${REG}/${uniqueRepo('cli/extras')}:v1`;
      await writeFile(
        join(root, 'ann.json'),
        JSON.stringify({ $manifest: { 'com.example.m': 'yes' }, 'a.txt': { 'com.example.f': 'file' } }),
      );
      const exported = join(root, 'exported.json');
      const pushed = json<{ digest: string; annotations: Record<string, string> }>(
        await runCli(
          ['push', ref, 'a.txt', '--annotation-file', 'ann.json', '--export-manifest', exported, '--format', 'json'],
          env,
          { cwd: root, env: { SOURCE_DATE_EPOCH: '1700000000' } },
        ),
      );
      expect(pushed.annotations).toMatchObject({
        'com.example.m': 'yes',
        'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      });
      const bytes = await readFile(exported);
      expect(sha256(bytes)).toBe(pushed.digest);
      const m = JSON.parse(bytes.toString('utf8')) as { layers: { annotations: Record<string, string> }[] };
      expect(m.layers[0]?.annotations['com.example.f']).toBe('file');

      const out = join(root, 'extras-out');
      await mkdir(out);
      await writeFile(join(out, 'a.txt'), 'mine\n');
      // oras 1.3: -k treats an existing file as an error (exit 1); the file is left alone.
      const kept = await oras(['pull', ref, '-o', out, '-k', '--export-manifest', join(root, 'pulled-manifest.json')]);
      expect(kept.code).toBe(1);
      expect(kept.stderr).toContain('file already exists: a.txt');
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('mine\n');
      await ok(['pull', ref, '-o', join(root, 'extras-out2'), '--export-manifest', join(root, 'pulled-manifest.json')]);
      expect(sha256(await readFile(join(root, 'pulled-manifest.json')))).toBe(pushed.digest);
    },
    T,
  );
});

describe('terminal progress', () => {
  it(
    'draws progress on a real pseudo-terminal (via script(1)), and --no-tty falls back to plain lines',
    async () => {
      const { spawnSync } = await import('node:child_process');
      const hasScript = spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).status === 0;
      if (!hasScript) return; // util-linux script(1) is needed to allocate a PTY
      const REG = registry('plain').host;
      const ref = `${REG}/${uniqueRepo('cli/tty')}:v1`;
      const { CLI } = await import('./helpers.js');
      const cmd = `stty cols 120 2>/dev/null; "${process.execPath}" "${CLI}" push ${ref} a.txt`;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('\u2713 Uploaded');
      expect(r.stdout).toContain('a.txt');
      const plain = await ok(['push', ref, 'a.txt', '--no-tty']);
      expect(plain.stderr).not.toContain('\x1b[');
    },
    T,
  );
});

describe('shared output paths (delete, fetch, listings, backup to a directory)', () => {
  it(
    'blob and manifest delete: --descriptor, JSON and text; fetch --pretty/-o; fetch-config JSON',
    async () => {
      const REG = registry('plain').host;
      const repo = `${REG}/${uniqueRepo('cli/shape')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      const aDigest = sha256('alpha\n');

      const prettyFile = join(root, 'shape-pretty.json');
      // oras 1.3 ignores --pretty when writing to a file: the file holds the exact manifest bytes.
      await ok(['manifest', 'fetch', `${repo}:v1`, '--pretty', '-o', prettyFile]);
      expect(sha256(await readFile(prettyFile))).toBe(pushed.digest);
      const pretty = (await ok(['manifest', 'fetch', `${repo}:v1`, '--pretty'])).stdout;
      expect(pretty).toMatch(/^\{\n {2}"/);
      expect(JSON.parse(pretty)).toMatchObject({ schemaVersion: 2 });
      const rawFile = join(root, 'shape-raw.json');
      const fetched = json<{ reference: string; digest: string; content: { layers: unknown[] } }>(
        await ok(['manifest', 'fetch', `${repo}:v1`, '-o', rawFile, '--format', 'json']),
      );
      expect(fetched).toMatchObject({ reference: `${repo}@${pushed.digest}`, digest: pushed.digest });
      expect(fetched.content.layers).toHaveLength(1);
      expect(sha256(await readFile(rawFile))).toBe(pushed.digest);
      const cfg = json<{ descriptor: { mediaType: string }; content?: unknown }>(
        await ok(['manifest', 'fetch-config', `${repo}:v1`, '--format', 'json']),
      );
      expect(cfg.descriptor.mediaType).toBe('application/vnd.oci.empty.v1+json');
      expect(cfg.content).toEqual({});

      const blobDesc = json(await ok(['blob', 'delete', `${repo}@${aDigest}`, '--force', '--descriptor']));
      expect(blobDesc).toEqual({ mediaType: 'application/octet-stream', digest: aDigest, size: 6 });
      await ok(['blob', 'push', repo, 'a.txt']);
      const blobJson = json(await ok(['blob', 'delete', `${repo}@${aDigest}`, '--force', '--format', 'json']));
      expect(blobJson).toEqual({
        reference: `${repo}@${aDigest}`,
        mediaType: 'application/octet-stream',
        digest: aDigest,
        size: 6,
        deleted: true,
      });
      await ok(['blob', 'push', repo, 'a.txt']);
      expect((await ok(['blob', 'delete', `${repo}@${aDigest}`, '--force'])).stdout).toBe(
        `Deleted [registry] ${repo}@${aDigest}\n`,
      );
      expect((await oras(['blob', 'fetch', `${repo}@${aDigest}`, '--descriptor'])).code).toBe(3);

      const manJson = json(await ok(['manifest', 'delete', `${repo}:v1`, '--force', '--format', 'json']));
      expect(manJson).toMatchObject({ reference: `${repo}@${pushed.digest}`, digest: pushed.digest, deleted: true });
    },
    T,
  );

  it(
    'repo ls/tags filters (namespace, --last, --exclude-digest-tags); backup of all tags to a directory and restore',
    async () => {
      const REG = registry('plain').host;
      const ns = uniqueRepo('cli/ns');
      const repo = `${REG}/${ns}/one`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1,v2`, 'a.txt', '--format', 'json']));
      await ok(['attach', `${repo}:v1`, '--artifact-type', 'application/vnd.example.note', 'b.bin']);

      expect(json(await ok(['repo', 'ls', `${REG}/${ns}`, '--format', 'json']))).toEqual({
        registry: REG,
        namespace: ns,
        repositories: [`${ns}/one`], // oras 1.3: full names in JSON, names below the namespace in text
      });
      expect((await ok(['repo', 'ls', `${REG}/${ns}`])).stdout).toBe('one\n');
      const all = json<{ tags: string[] }>(await ok(['repo', 'tags', repo, '--format', 'json']));
      expect(all.tags).toContain(`sha256-${pushed.digest.slice('sha256:'.length)}`);
      expect(json(await ok(['repo', 'tags', repo, '--exclude-digest-tags', '--format', 'json']))).toEqual({
        repository: repo,
        tags: ['v1', 'v2'],
      });
      expect((await ok(['repo', 'tags', repo, '--exclude-digest-tags', '--last', 'v1'])).stdout).toBe('v2\n');

      const dir = join(root, 'shape-backup');
      const bk = await ok(['backup', repo, '--output', dir, '--include-referrers']);
      // oras 1.3 text (display/metadata/text/backup.go); the duration varies.
      expect(bk.stdout).toMatch(
        new RegExp(
          `^Found 2 tag\\(s\\) in ${repo}: v1, v2\nPulled tag v1 with 1 referrer\\(s\\)\nPulled tag v2 with 1 referrer\\(s\\)\nSuccessfully backed up 2 tag\\(s\\) from "${repo}" to "${dir}" in [0-9.]+(µs|ms|s)\\.\n$`,
        ),
      );
      expect(existsSync(join(dir, 'oci-layout'))).toBe(true);
      const target = `${REG}/${uniqueRepo('cli/restored-dir')}`;
      const rs = json<{ input: string; artifacts: { tag?: string; digest: string }[] }>(
        await ok(['restore', '--input', dir, target, '--format', 'json']),
      );
      expect(rs.input).toBe(dir);
      expect(rs.artifacts.map((a) => [a.tag, a.digest])).toEqual([
        ['v1', pushed.digest],
        ['v2', pushed.digest],
      ]);
      const d = json<{ referrers: { artifactType: string }[] }>(
        await ok(['discover', `${target}:v2`, '--format', 'json']),
      );
      expect(d.referrers.map((m) => m.artifactType)).toEqual(['application/vnd.example.note']);
    },
    T,
  );
});
