/**
 * oras CLI 1.3 compatibility, case by case, against the real registry.
 *
 * Every expected output below is written by hand from oras v1.3.0's sources
 * (oras-project/oras, tag v1.3.0) — the file is named in each case — never
 * captured from this CLI. Digests are computed here from the bytes pushed.
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
let REG: string;
const T = 180_000;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const UNKNOWN_ARTIFACT = 'application/vnd.unknown.artifact.v1';

async function oras(args: string[], input?: string): Promise<CliResult> {
  return runCli(args, env, { cwd: root, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[], input?: string): Promise<CliResult> {
  const r = await oras(args, input);
  expect(r.code, show(r)).toBe(0);
  return r;
}

function json<T = Record<string, unknown>>(r: CliResult): T {
  return JSON.parse(r.stdout) as T;
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-compat-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  env = { ...baseEnv(join(root, 'docker')), HOME: root };
  REG = registry('plain').host;
  await writeFile(join(root, 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'b.txt'), 'bravo\n');
});

afterAll(async () => {
  await cleanup?.();
});

/**
 * Pushes a two-platform index (linux/amd64, linux/arm64/v8) whose manifests each carry one
 * titled layer `<arch>.txt`; returns the repo and digests.
 */
async function pushIndex(): Promise<{ repo: string; index: string; amd64: string; arm64: string }> {
  const repo = `${REG}/${uniqueRepo('compat/multi')}`;
  const digests: Record<string, string> = {};
  const entries: unknown[] = [];
  for (const [arch, variant] of [
    ['amd64', undefined],
    ['arm64', 'v8'],
  ] as const) {
    const platform = { architecture: arch, os: 'linux', ...(variant !== undefined ? { variant } : {}) };
    const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] } }));
    await writeFile(join(root, `config-${arch}.json`), config);
    await ok(['blob', 'push', `${repo}@${sha256(config)}`, `config-${arch}.json`]);
    const layer = Buffer.from(`${arch}\n`);
    await writeFile(join(root, `${arch}.txt`), layer);
    await ok(['blob', 'push', `${repo}@${sha256(layer)}`, `${arch}.txt`]);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [
          {
            mediaType: 'text/plain',
            digest: sha256(layer),
            size: layer.length,
            annotations: { 'org.opencontainers.image.title': `${arch}.txt` },
          },
        ],
      }),
    );
    await writeFile(join(root, `manifest-${arch}.json`), manifest);
    await ok(['manifest', 'push', `${repo}@${sha256(manifest)}`, `manifest-${arch}.json`]);
    digests[arch] = sha256(manifest);
    entries.push({ mediaType: MANIFEST, digest: sha256(manifest), size: manifest.length, platform });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: entries }));
  await writeFile(join(root, 'index.json'), index);
  await ok(['manifest', 'push', `${repo}:multi`, 'index.json']);
  return { repo, index: sha256(index), amd64: digests.amd64 ?? '', arm64: digests.arm64 ?? '' };
}

describe('--format go-template / --template / json (cmd/oras/internal/option/format.go, output/template.go)', () => {
  it(
    'push --format go-template={{.digest}} prints only the digest, no newline (template.Execute adds none)',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/tpl')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      const r = await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'go-template={{.digest}}']);
      expect(r.stdout).toBe(pushed.digest);
      // `--format go-template --template T` is the same.
      expect(
        (await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'go-template', '--template', '{{.mediaType}}'])).stdout,
      ).toBe(MANIFEST);
      // No status lines with a template (display/handler.go: status is discarded unless --format text).
      expect(r.stderr).toBe('');
    },
    T,
  );

  it(
    'push --format json: model/push.go = Descriptor{reference, mediaType, digest, size, annotations, artifactType} + referenceAsTags (sorted)',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/pushjson')}`;
      const doc = json<Record<string, unknown>>(await ok(['push', `${repo}:v2,v1`, 'a.txt', '--format', 'json']));
      const digest = String(doc.digest);
      expect(doc).toMatchObject({
        reference: `${repo}@${digest}`,
        mediaType: MANIFEST,
        digest,
        artifactType: UNKNOWN_ARTIFACT,
        referenceAsTags: [`${repo}:v1`, `${repo}:v2`],
      });
      expect(typeof doc.size).toBe('number');
      // The template sees the same document: range over referenceAsTags.
      const r = await ok([
        'push',
        `${repo}:v2,v1`,
        'a.txt',
        '--format',
        'go-template={{range .referenceAsTags}}{{.}}\n{{end}}',
      ]);
      expect(r.stdout).toBe(`${repo}:v1\n${repo}:v2\n`);
    },
    T,
  );

  it(
    '--template without --format go-template, go-template without a template, unknown type: usage errors naming the fix',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/tplerr')}:v1`;
      const a = await oras(['push', repo, 'a.txt', '--template', '{{.digest}}']);
      expect(a.code).toBe(2);
      expect(a.stderr).toContain('--template must be used with --format go-template');
      const b = await oras(['push', repo, 'a.txt', '--format', 'go-template']);
      expect(b.code).toBe(2);
      expect(b.stderr).toContain('"go-template" format specified but no template given');
      expect(b.stderr).toContain('--format go-template=TEMPLATE');
      const c = await oras(['push', repo, 'a.txt', '--format', 'yaml']);
      expect(c.code).toBe(2);
      expect(c.stderr).toContain('invalid format type: "yaml"');
      expect(c.stderr).toContain('supported types: text, json, go-template');
      // A template the evaluator does not support fails before anything is pushed.
      const d = await oras(['push', repo, 'a.txt', '--format', 'go-template={{template "x"}}']);
      expect(d.code).toBe(2);
      expect((await oras(['resolve', repo])).code).toBe(3);
    },
    T,
  );

  it(
    'pull --format json: model/pull.go {reference: name@digest, files[{path (absolute), reference, mediaType, digest, size, annotations}]}',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/pulljson')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      const out = join(root, 'pull-json');
      const doc = json<{ reference: string; files: Record<string, unknown>[] }>(
        await ok(['pull', `${repo}:v1`, '-o', out, '--format', 'json']),
      );
      expect(doc.reference).toBe(`${repo}@${pushed.digest}`);
      expect(doc.files).toHaveLength(1);
      expect(doc.files[0]).toMatchObject({
        path: join(out, 'a.txt'),
        reference: `${repo}@${sha256('alpha\n')}`,
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256('alpha\n'),
        size: 6,
        annotations: { 'org.opencontainers.image.title': 'a.txt' },
      });
      const r = await ok(['pull', `${repo}:v1`, '-o', out, '--format', 'go-template={{range .files}}{{.path}}{{end}}']);
      expect(r.stdout).toBe(join(out, 'a.txt'));
    },
    T,
  );

  it(
    'attach and discover: model/attach.go document; discover JSON nests `referrers`; the tree shows [annotations] and <unknown> (metadata/tree/discover.go)',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/refs')}`;
      const subject = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      const attached = json<Record<string, unknown>>(
        await ok([
          'attach',
          `${repo}:v1`,
          '--artifact-type',
          'application/vnd.example.sbom',
          'b.txt',
          '-a',
          'k=v',
          '--format',
          'json',
        ]),
      );
      const digest = String(attached.digest);
      expect(attached).toMatchObject({
        reference: `${repo}@${digest}`,
        mediaType: MANIFEST,
        artifactType: 'application/vnd.example.sbom',
        annotations: { k: 'v' },
      });
      // text/attach.go: "Attached to [registry] name@subjectDigest" then "Digest: …".
      const text = await ok([
        'attach',
        `${repo}:v1`,
        '--artifact-type',
        'application/vnd.example.sbom',
        'b.txt',
        '-a',
        'k=w',
      ]);
      const second = /Digest: (sha256:[0-9a-f]{64})/.exec(text.stdout)?.[1] ?? '';
      expect(text.stdout).toBe(`Attached to [registry] ${repo}@${subject.digest}\nDigest: ${second}\n`);

      const doc = json<{
        reference: string;
        digest: string;
        referrers: { digest: string; annotations: Record<string, string>; referrers: unknown[] }[];
      }>(await ok(['discover', `${repo}:v1`, '--format', 'json']));
      expect(doc).toMatchObject({
        reference: `${repo}@${subject.digest}`,
        digest: subject.digest,
        mediaType: MANIFEST,
      });
      expect(doc.referrers.map((r) => r.digest).sort()).toEqual([digest, second].sort());
      expect(doc.referrers.every((r) => Array.isArray(r.referrers))).toBe(true);
      const tpl = await ok(['discover', `${repo}:v1`, '--format', 'go-template={{len .referrers}}']);
      expect(tpl.stdout).toBe('2');

      // A referrer without an artifact type: an image index with a subject and no artifactType (an image
      // manifest would get its config media type as artifactType in the referrers list, per the distribution spec).
      const sub = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: INDEX,
          manifests: [],
          subject: { mediaType: MANIFEST, digest: digest, size: Number(attached.size) },
        }),
      );
      await writeFile(join(root, 'untyped.json'), sub);
      await ok(['manifest', 'push', `${repo}@${sha256(sub)}`, 'untyped.json']);
      const tree = (await ok(['discover', `${repo}@${digest}`])).stdout;
      expect(tree).toBe([`${repo}@${digest}`, '└── <unknown>', `    └── ${sha256(sub)}`, ''].join('\n'));
      const top = (await ok(['discover', `${repo}@${subject.digest}`, '--depth', '1'])).stdout.split('\n');
      // Two referrers of one type; each digest node has an [annotations] child listing `key: value`.
      expect(top[1]).toBe('└── application/vnd.example.sbom');
      expect(top.filter((l) => /^ {4}[│ ] {3}└── \[annotations\]$/.test(l))).toHaveLength(2);
      expect(top.some((l) => /^ {4}[│ ] {7}└── k: v$/.test(l))).toBe(true);
    },
    T,
  );

  it(
    'discover -o json is the deprecated alias (root/discover.go), and excludes --format',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/disco')}`;
      await ok(['push', `${repo}:v1`, 'a.txt']);
      const r = await ok(['discover', `${repo}:v1`, '-o', 'json']);
      expect(json<{ referrers: unknown[] }>(r).referrers).toEqual([]);
      expect(r.stderr).toContain('[DEPRECATED] --output is deprecated, try `--format json` instead');
      expect((await oras(['discover', `${repo}:v1`, '-o', 'json', '--format', 'tree'])).code).toBe(2);
    },
    T,
  );

  it(
    'manifest fetch --descriptor --output FILE writes the manifest to FILE and prints the compact descriptor (display/handler.go)',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/fetch')}`;
      const pushed = json<{ digest: string; size: number }>(
        await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']),
      );
      const file = join(root, 'fetched.json');
      const r = await ok(['manifest', 'fetch', `${repo}:v1`, '--descriptor', '--output', file]);
      // oras.FetchBytes/Resolve return {mediaType, digest, size}; json.Marshal, no newline (output.PrintJSON, not pretty).
      expect(r.stdout).toBe(JSON.stringify({ mediaType: MANIFEST, digest: pushed.digest, size: pushed.size }));
      expect(sha256(await readFile(file))).toBe(pushed.digest);
      const tpl = await ok([
        'manifest',
        'fetch',
        `${repo}:v1`,
        '--format',
        'go-template={{.reference}} {{len .content.layers}}',
      ]);
      expect(tpl.stdout).toBe(`${repo}@${pushed.digest} 1`);
      expect((await oras(['manifest', 'fetch', `${repo}:v1`, '--descriptor', '--output', '-'])).code).toBe(2);
    },
    T,
  );
});

describe('--platform (cmd/oras/internal/option/platform.go)', () => {
  it(
    'pull, resolve, manifest fetch, fetch-config, discover, attach, cp select from a multi-platform index; no match is a clear error',
    async () => {
      const { repo, index, amd64, arm64 } = await pushIndex();
      expect((await ok(['resolve', `${repo}:multi`])).stdout.trim()).toBe(index);
      expect((await ok(['resolve', `${repo}:multi`, '--platform', 'linux/arm64'])).stdout.trim()).toBe(arm64);
      expect((await ok(['resolve', `${repo}:multi`, '--platform', 'linux/arm64/v8'])).stdout.trim()).toBe(arm64);
      expect(
        (await ok(['manifest', 'fetch', `${repo}:multi`, '--platform', 'linux/amd64', '--descriptor'])).stdout,
      ).toContain(amd64);
      expect(
        json<{ architecture: string }>(
          await ok(['manifest', 'fetch-config', `${repo}:multi`, '--platform', 'linux/arm64']),
        ).architecture,
      ).toBe('arm64');

      const out = join(root, 'pull-platform');
      const pulled = await ok(['pull', `${repo}:multi`, '--platform', 'linux/amd64', '-o', out]);
      // text/pull.go: "Pulled [registry] REF" + "Digest: <selected manifest>".
      expect(pulled.stdout).toContain(`Pulled [registry] ${repo}:multi\nDigest: ${amd64}\n`);
      expect(await readFile(join(out, 'amd64.txt'), 'utf8')).toBe('amd64\n');

      const none = await oras(['pull', `${repo}:multi`, '--platform', 'windows/amd64', '-o', out]);
      expect(none.code).toBe(3);
      expect(none.stderr).toContain('no matching manifest was found in the manifest list');
      expect(none.stderr).toContain('linux/amd64, linux/arm64/v8');
      expect((await oras(['resolve', `${repo}:multi`, '--platform', '/amd64'])).stderr).toContain(
        'invalid platform: OS cannot be empty',
      );

      const att = json<{ subject: { digest: string } }>(
        await ok([
          'attach',
          `${repo}:multi`,
          '--platform',
          'linux/arm64',
          '--artifact-type',
          'application/vnd.example.note',
          'a.txt',
          '--format',
          'json',
        ]),
      );
      expect(att.subject.digest).toBe(arm64);
      const d = json<{ digest: string; referrers: unknown[] }>(
        await ok(['discover', `${repo}:multi`, '--platform', 'linux/arm64', '--format', 'json']),
      );
      expect(d.digest).toBe(arm64);
      expect(d.referrers).toHaveLength(1);

      const dst = `${REG}/${uniqueRepo('compat/cp-platform')}`;
      await ok(['cp', `${repo}:multi`, `${dst}:only-arm`, '--platform', 'linux/arm64']);
      expect((await ok(['resolve', `${dst}:only-arm`])).stdout.trim()).toBe(arm64);
    },
    T,
  );
});

describe('deletion (option/confirmation.go, root/manifest/delete.go, root/blob/delete.go)', () => {
  it(
    'echo y | manifest delete deletes; empty stdin cancels with exit 0; -f on a missing reference prints Missing and exits 0',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/del')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json']));
      const prompt = `Are you sure you want to delete the manifest "${pushed.digest}" and all tags associated with it? [y/N] `;
      const cancelled = await ok(['manifest', 'delete', `${repo}:v1`]);
      expect(cancelled.stdout).toBe(`${prompt}Operation cancelled.\n`);
      expect((await oras(['resolve', `${repo}:v1`])).code).toBe(0);
      const no = await ok(['manifest', 'delete', `${repo}:v1`], 'n\n');
      expect(no.stdout).toBe(`${prompt}Operation cancelled.\n`);
      const yes = await ok(['manifest', 'delete', `${repo}:v1`], 'y\n');
      expect(yes.stdout).toBe(`${prompt}Deleted [registry] ${repo}:v1\n`);
      expect((await oras(['resolve', `${repo}:v1`])).code).toBe(3);

      const missing = await ok(['manifest', 'delete', `${repo}:v1`, '-f']);
      expect(missing.stdout).toBe(`Missing ${repo}:v1\n`);
      const strict = await oras(['manifest', 'delete', `${repo}:v1`]);
      expect(strict.code).toBe(3);
      expect(strict.stderr).toContain(`${repo}:v1: the specified manifest does not exist`);
      expect((await oras(['manifest', 'delete', `${repo}:v1`, '-f', '--descriptor'])).code).toBe(3);
    },
    T,
  );

  it(
    'blob delete: same confirmation and Missing',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/delblob')}`;
      const digest = sha256('bravo\n');
      await ok(['blob', 'push', `${repo}@${digest}`, 'b.txt']);
      const yes = await ok(['blob', 'delete', `${repo}@${digest}`], 'yes\n');
      expect(yes.stdout).toBe(
        `Are you sure you want to delete the blob "${digest}"? [y/N] Deleted [registry] ${repo}@${digest}\n`,
      );
      expect((await ok(['blob', 'delete', `${repo}@${digest}`, '--force'])).stdout).toBe(`Missing ${repo}@${digest}\n`);
    },
    T,
  );
});

describe('flags and defaults', () => {
  it(
    'push text output (text/push.go): Pushed [registry] REF, Tagged per extra tag, ArtifactType, Digest',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/pushtext')}`;
      const r = await ok(['push', `${repo}:v1,v2`, 'a.txt']);
      const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1] ?? '';
      expect(r.stdout).toBe(
        `Pushed [registry] ${repo}:v1\nTagged v2\nArtifactType: ${UNKNOWN_ARTIFACT}\nDigest: ${digest}\n`,
      );
    },
    T,
  );

  it(
    'login --identity-token-stdin (root/login.go): the token is read from stdin and verified; a bad one is refused (exit 4)',
    async () => {
      const tok = registry('token');
      const user = tok.users.find((u) => u.access === 'push')!;
      const url = `${tok.tokenRealm ?? ''}?service=${encodeURIComponent(tok.tokenService ?? '')}&offline_token=true&account=${encodeURIComponent(user.username)}`;
      const res = await fetch(url, {
        headers: { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` },
      });
      const refresh = ((await res.json()) as { refresh_token?: string }).refresh_token ?? '';
      expect(refresh).not.toBe('');
      const cfgFile = join(root, 'idtok-config.json');
      const login = await ok(
        ['login', tok.host, '--identity-token-stdin', '--registry-config', cfgFile],
        `${refresh}\n`,
      );
      expect(login.stdout).toBe('Login Succeeded\n');
      expect(await readFile(cfgFile, 'utf8')).toContain('identitytoken');
      const bad = await oras(
        ['login', tok.host, '--identity-token-stdin', '--registry-config', join(root, 'idtok-bad.json')],
        'not-a-token\n',
      );
      expect(bad.code).toBe(4);
    },
    T,
  );

  it(
    'blob push from stdin requires --size (root/blob/push.go); manifest push --descriptor prints the compact descriptor',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/stdin')}`;
      const r = await oras(['blob', 'push', repo, '-'], 'hello\n');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('`--size` must be provided if the blob is read from stdin');
      expect(
        (await ok(['blob', 'push', `${repo}@${sha256('hello\n')}`, '-', '--size', '6'], 'hello\n')).stdout,
      ).toContain(sha256('hello\n'));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
          layers: [{ mediaType: 'text/plain', digest: sha256('hello\n'), size: 6 }],
        }),
      );
      await ok(['blob', 'push', `${repo}@${sha256('{}')}`, '-', '--size', '2'], '{}');
      await writeFile(join(root, 'm.json'), manifest);
      const pushed = await ok(['manifest', 'push', `${repo}:v1`, 'm.json', '--descriptor']);
      expect(pushed.stdout).toBe(
        JSON.stringify({ mediaType: MANIFEST, digest: sha256(manifest), size: manifest.length }),
      );
    },
    T,
  );

  it(
    '-d implies no TTY (opts.DisableTTY(opts.Debug, …) in every command): no progress bars on a terminal with --debug',
    async () => {
      const { spawnSync } = await import('node:child_process');
      if (spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).status !== 0) return; // script(1) allocates the PTY
      const { CLI } = await import('./helpers.js');
      // A fresh repository per run, so the blobs are uploaded (not "Exists").
      const run = (extra: string): string =>
        spawnSync(
          'script',
          [
            '-qec',
            `stty cols 120 2>/dev/null; "${process.execPath}" "${CLI}" push ${REG}/${uniqueRepo('compat/debug-tty')}:v1 a.txt ${extra}`,
            '/dev/null',
          ],
          { cwd: root, env, encoding: 'utf8', timeout: 60_000 },
        ).stdout;
      expect(run('')).toContain('\u2713 Uploaded');
      const debug = run('-d');
      expect(debug).not.toContain('\u2713');
      expect(debug).toContain('Uploaded');
    },
    T,
  );

  it(
    'pull -k: an existing file is an error ("treat them as errors", root/pull.go), the file is untouched',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/keep')}`;
      await ok(['push', `${repo}:v1`, 'a.txt']);
      const out = join(root, 'keep-out');
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'a.txt'), 'mine\n');
      const r = await oras(['pull', `${repo}:v1`, '-o', out, '-k']);
      expect(r.code).toBe(1);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('mine\n');
    },
    T,
  );

  it(
    'cp SRC:tag DST-REPO copies untagged (root/cp.go: CopyGraph when the destination has no reference)',
    async () => {
      const src = `${REG}/${uniqueRepo('compat/cpsrc')}`;
      const dst = `${REG}/${uniqueRepo('compat/cpdst')}`;
      const pushed = json<{ digest: string }>(await ok(['push', `${src}:v1`, 'a.txt', '--format', 'json']));
      const r = await ok(['cp', `${src}:v1`, dst]);
      // text/copy.go: "Copied [registry] SRC => [registry] DST", "Digest: …".
      expect(r.stdout).toBe(`Copied [registry] ${src}:v1 => [registry] ${dst}\nDigest: ${pushed.digest}\n`);
      expect((await oras(['resolve', `${dst}:v1`])).code).toBe(3);
      expect((await ok(['resolve', `${dst}@${pushed.digest}`])).stdout.trim()).toBe(pushed.digest);
    },
    T,
  );

  it(
    'cp --concurrency 0 means the default (oras-go: <= 0 is the default)',
    async () => {
      const src = `${REG}/${uniqueRepo('compat/cc')}`;
      await ok(['push', `${src}:v1`, 'a.txt']);
      await ok(['cp', `${src}:v1`, `${src}:v2`, '--concurrency', '0']);
      expect((await oras(['cp', `${src}:v1`, `${src}:v3`, '--concurrency', '-1'])).code).toBe(2);
    },
    T,
  );

  it(
    'backup leaves referrers out unless --include-referrers; restore --dry-run pushes nothing; --exclude-referrers',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/bk')}`;
      await ok(['push', `${repo}:v1`, 'a.txt']);
      await ok(['attach', `${repo}:v1`, '--artifact-type', 'application/vnd.example.note', 'b.txt']);
      const plain = join(root, 'bk-plain');
      await ok(['backup', `${repo}:v1`, '--output', plain]);
      const restoredPlain = `${REG}/${uniqueRepo('compat/rs-plain')}`;
      await ok(['restore', '--input', plain, restoredPlain]);
      expect(
        json<{ referrers: unknown[] }>(await ok(['discover', `${restoredPlain}:v1`, '--format', 'json'])).referrers,
      ).toHaveLength(0);

      const full = join(root, 'bk-full');
      await ok(['backup', `${repo}:v1`, '--output', full, '--include-referrers']);
      const target = `${REG}/${uniqueRepo('compat/rs')}`;
      // text/restore.go dry-run lines.
      const dry = await ok(['restore', '--input', full, target, '--dry-run']);
      expect(dry.stdout).toBe(
        `Found 1 tag(s) in the backup: v1\nDry run: would push tag v1 with 1 referrer(s)\nDry run complete: 1 tag(s) would be restored to "${target}" (no data pushed)\n`,
      );
      expect((await oras(['resolve', `${target}:v1`])).code).toBe(3);
      await ok(['restore', '--input', full, target, '--exclude-referrers']);
      expect(
        json<{ referrers: unknown[] }>(await ok(['discover', `${target}:v1`, '--format', 'json'])).referrers,
      ).toHaveLength(0);
      const withRefs = `${REG}/${uniqueRepo('compat/rs2')}`;
      await ok(['restore', '--input', full, withRefs]);
      expect(
        json<{ referrers: unknown[] }>(await ok(['discover', `${withRefs}:v1`, '--format', 'json'])).referrers,
      ).toHaveLength(1);
      expect(existsSync(join(full, 'index.json'))).toBe(true);
    },
    T,
  );
});

describe('following subjects (oras-go content.Successors lists `subject`; root/pull.go --include-subject)', () => {
  /** A ← B ← C: B's subject is A, C's subject is B; each carries one titled file. */
  async function chain(): Promise<{ repo: string; a: string; b: string; c: string }> {
    const repo = `${REG}/${uniqueRepo('compat/chain')}`;
    await writeFile(join(root, 'c.txt'), 'charlie\n');
    const a = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json'])).digest;
    const attach = async (subject: string, file: string): Promise<string> =>
      json<{ digest: string }>(
        await ok([
          'attach',
          `${repo}@${subject}`,
          '--artifact-type',
          'application/vnd.example.note',
          file,
          '--format',
          'json',
        ]),
      ).digest;
    const b = await attach(a, 'b.txt');
    const c = await attach(b, 'c.txt');
    return { repo, a, b, c };
  }

  it(
    'pull --include-subject of C writes the files of C, B and A ("recursively pull the subject of artifacts")',
    async () => {
      const { repo, a, b, c } = await chain();
      const out = join(root, 'chain-out');
      const r = await ok(['pull', `${repo}@${c}`, '--include-subject', '-o', out]);
      expect(await readFile(join(out, 'c.txt'), 'utf8')).toBe('charlie\n');
      expect(await readFile(join(out, 'b.txt'), 'utf8')).toBe('bravo\n');
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
      expect(r.stdout).toContain(`Pulled [registry] ${repo}@${c}\nDigest: ${c}\n`);
      const doc = json<{ files: { path: string }[] }>(
        await ok(['pull', `${repo}@${c}`, '--include-subject', '-o', out, '--format', 'json']),
      );
      expect(doc.files.map((f) => f.path)).toEqual(['c.txt', 'b.txt', 'a.txt'].map((f) => join(out, f)));
      // Without the flag only C's own file.
      const only = join(root, 'chain-only');
      await ok(['pull', `${repo}@${c}`, '-o', only]);
      expect(existsSync(join(only, 'b.txt'))).toBe(false);
      expect([a, b]).toHaveLength(2);
    },
    T,
  );

  it(
    'cp of a referrer (with or without -r) copies its whole subject chain first; -r also its referrers',
    async () => {
      const { repo, a, b, c } = await chain();
      const dst = `${REG}/${uniqueRepo('compat/chain-dst')}`;
      await ok(['cp', `${repo}@${c}`, `${dst}:c`]);
      for (const d of [a, b, c]) expect((await ok(['resolve', `${dst}@${d}`])).stdout.trim()).toBe(d);
      const dst2 = `${REG}/${uniqueRepo('compat/chain-dst2')}`;
      await ok(['cp', '-r', `${repo}@${b}`, `${dst2}:b`]);
      for (const d of [a, b, c]) expect((await ok(['resolve', `${dst2}@${d}`])).stdout.trim()).toBe(d);
      const refs = json<{ referrers: { digest: string }[] }>(
        await ok(['discover', `${dst2}@${a}`, '--format', 'json']),
      );
      expect(refs.referrers.map((r) => r.digest)).toEqual([b]);
    },
    T,
  );
});

describe('push --artifact-platform (root/push.go, option/platform.go ArtifactPlatform)', () => {
  it(
    'the config is an image config holding json.Marshal(ocispec.Platform); artifactType stays the unknown artifact; pull --platform selects it',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/artplat')}`;
      const r = await ok(['push', '--artifact-platform', 'linux/arm/v5', `${repo}:v1`, 'a.txt', '--format', 'json']);
      const pushed = json<{ digest: string; artifactType: string }>(r);
      expect(pushed.artifactType).toBe(UNKNOWN_ARTIFACT);
      // ocispec.Platform field order: architecture, os, os.version, os.features, variant (omitempty).
      const config = '{"architecture":"arm","os":"linux","variant":"v5"}';
      const manifest = json<{ config: unknown; artifactType: string }>(await ok(['manifest', 'fetch', `${repo}:v1`]));
      expect(manifest.config).toEqual({
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      });
      expect((await ok(['manifest', 'fetch-config', `${repo}:v1`])).stdout).toBe(config);
      const win = await ok(['push', '--artifact-platform', 'windows/amd64:10.0.17763', `${repo}:win`, 'a.txt']);
      expect(win.stdout).toContain(`ArtifactType: ${UNKNOWN_ARTIFACT}`);
      expect((await ok(['manifest', 'fetch-config', `${repo}:win`])).stdout).toBe(
        '{"architecture":"amd64","os":"windows","os.version":"10.0.17763"}',
      );
      const out = join(root, 'artplat-out');
      await ok(['pull', `${repo}:v1`, '--platform', 'linux/arm/v5', '-o', out]);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
      expect((await oras(['pull', `${repo}:v1`, '--platform', 'linux/amd64', '-o', out])).code).toBe(3);

      const both = await oras([
        'push',
        '--artifact-platform',
        'linux/amd64',
        '--config',
        'b.txt',
        `${repo}:x`,
        'a.txt',
      ]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--config, --artifact-platform cannot be used at the same time');
      const v10 = await oras([
        'push',
        '--artifact-platform',
        'linux/amd64',
        '--image-spec',
        'v1.0',
        '--artifact-type',
        'application/vnd.x',
        `${repo}:x`,
        'a.txt',
      ]);
      expect(v10.code).toBe(2);
      expect(v10.stderr).toContain(
        'artifact type cannot be customized for OCI image-spec v1.0 when platform is specified',
      );
      expect((await oras(['push', '--artifact-platform', '/amd64', `${repo}:x`, 'a.txt'])).stderr).toContain(
        'invalid platform: OS cannot be empty',
      );
      expect((await oras(['resolve', `${repo}:x`])).code).toBe(3);
    },
    T,
  );
});

describe('pull --config (root/pull.go: "output manifest config file", fileref PATH[:MEDIATYPE])', () => {
  it(
    'writes the config blob to PATH under the output directory; a different MEDIATYPE skips it; paths outside need -T',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/pullcfg')}`;
      await ok(['push', `${repo}:v1`, 'a.txt', '--config', 'b.txt:application/vnd.example.config+json']);
      const out = join(root, 'pullcfg-out');
      await ok(['pull', `${repo}:v1`, '-o', out, '--config', 'meta/config.json']);
      expect(await readFile(join(out, 'meta', 'config.json'), 'utf8')).toBe('bravo\n');
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
      await ok(['pull', `${repo}:v1`, '-o', out, '--config', 'typed.json:application/vnd.example.config+json']);
      expect(await readFile(join(out, 'typed.json'), 'utf8')).toBe('bravo\n');
      await ok(['pull', `${repo}:v1`, '-o', out, '--config', 'other.json:application/vnd.other']);
      expect(existsSync(join(out, 'other.json'))).toBe(false);
      const escape = await oras(['pull', `${repo}:v1`, '-o', out, '--config', '../escaped.json']);
      expect(escape.code).not.toBe(0);
      expect(existsSync(join(root, 'escaped.json'))).toBe(false);
    },
    T,
  );
});

describe('--resolve host:port:address[:address_port] (option/remote.go parseResolve)', () => {
  it(
    'dials the mapped address for a name that does not resolve; TLS still verifies the original name; bad values are usage errors',
    async () => {
      const port = REG.split(':')[1] ?? '';
      const name = `registry.example:5000/${uniqueRepo('compat/resolve')}`;
      const mapped = ['--resolve', `registry.example:5000:127.0.0.1:${port}`, '--plain-http'];
      const r = await ok(['push', `${name}:v1`, 'a.txt', ...mapped]);
      expect(r.stdout).toContain(`Pushed [registry] ${name}:v1\n`);
      const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1] ?? '';
      const real = name.replace('registry.example:5000', REG);
      expect((await ok(['resolve', `${real}:v1`])).stdout.trim()).toBe(digest);
      // cp: each side has its own --from-resolve / --to-resolve.
      const copy = `registry.example:5001/${uniqueRepo('compat/resolve-cp')}`;
      await ok([
        'cp',
        `${name}:v1`,
        `${copy}:v1`,
        '--from-resolve',
        `registry.example:5000:127.0.0.1:${port}`,
        '--to-resolve',
        `registry.example:5001:127.0.0.1:${port}`,
        '--plain-http',
      ]);
      expect((await ok(['resolve', `${copy.replace('registry.example:5001', REG)}:v1`])).stdout.trim()).toBe(digest);

      // TLS: the certificate is for localhost/127.0.0.1; dialing through the map keeps SNI and verification on "localhost".
      const tls = registry('tls');
      const tlsPort = tls.host.split(':')[1] ?? '';
      const tlsRef = `localhost:1/${uniqueRepo('compat/resolve-tls')}:v1`;
      const viaMap = ['--resolve', `localhost:1:127.0.0.1:${tlsPort}`, '--ca-file', tls.caFile ?? ''];
      await ok(['push', tlsRef, 'a.txt', ...viaMap]);
      expect((await ok(['resolve', tlsRef, ...viaMap])).stdout.trim()).toMatch(/^sha256:/);

      const bad = await oras(['resolve', `${name}:v1`, '--resolve', 'registry.example:5000']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(
        'failed to parse resolve flag "registry.example:5000": expecting host:port:address[:address_port]',
      );
      expect((await oras(['resolve', `${name}:v1`, '--resolve', 'h:x:127.0.0.1'])).stderr).toContain(
        'expecting uint64 host port',
      );
      expect((await oras(['resolve', `${name}:v1`, '--resolve', 'h:1:not-an-ip'])).stderr).toContain(
        'invalid IP address',
      );
      expect((await oras(['resolve', `${name}:v1`, '--resolve', 'h:1:127.0.0.1:p'])).stderr).toContain(
        'expecting uint64 address port',
      );
    },
    T,
  );
});

describe('repo ls / repo tags --format json|go-template (root/repo/{ls,tags}.go, metadata/model/repo_{list,tags}.go)', () => {
  it(
    'JSON lists full repository names (text: names below the namespace); templates run over {registry, repositories} and {tags}',
    async () => {
      const ns = uniqueRepo('compat/ns');
      await ok(['push', `${REG}/${ns}/one:v1,v2`, 'a.txt']);
      expect(json(await ok(['repo', 'ls', `${REG}/${ns}`, '--format', 'json']))).toMatchObject({
        registry: REG,
        repositories: [`${ns}/one`],
      });
      expect((await ok(['repo', 'ls', `${REG}/${ns}`])).stdout).toBe('one\n');
      const ls = await ok([
        'repo',
        'ls',
        `${REG}/${ns}`,
        '--format',
        'go-template={{.registry}} {{range .repositories}}{{.}};{{end}}',
      ]);
      expect(ls.stdout).toBe(`${REG} ${ns}/one;`);
      const tags = await ok(['repo', 'tags', `${REG}/${ns}/one`, '--format', 'go-template={{join "," .tags}}']);
      expect(tags.stdout).toBe('v1,v2');
      expect(
        (await ok(['repo', 'tags', `${REG}/${ns}/one`, '--template', '{{len .tags}}', '--format', 'go-template']))
          .stdout,
      ).toBe('2');
    },
    T,
  );
});

describe('backup / restore text lines (display/metadata/text/{backup,restore}.go, status/progress/humanize)', () => {
  it(
    'backup to a .tar: Found, Pulled tag, Exporting, Exported (size), Successfully backed up; restore: Loaded, Found, Pushed tag, Successfully restored',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/bktext')}`;
      await ok(['push', `${repo}:v1,v2`, 'a.txt']);
      await ok(['attach', `${repo}:v1`, '--artifact-type', 'application/vnd.example.note', 'b.txt']);
      const tar = 'bk-text.tar';
      const bk = (await ok(['backup', `${repo}:v1,v2`, '--output', tar, '--include-referrers'])).stdout.split('\n');
      const size = (await import('node:fs')).statSync(join(root, tar)).size;
      // v1 and v2 name the same manifest: the note refers to both. humanize.ToBytes: 1024-based, RoundTo keeps ≤ 4 characters, "%g %2s".
      const kb = size / 1024;
      const shown =
        size < 1024
          ? `${size}  B`
          : `${kb < 10 ? Math.round(kb * 100) / 100 : kb < 100 ? Math.round(kb * 10) / 10 : Math.round(kb)} KB`;
      expect(bk.slice(0, 5)).toEqual([
        `Found 2 tag(s) in ${repo}: v1, v2`,
        'Pulled tag v1 with 1 referrer(s)',
        'Pulled tag v2 with 1 referrer(s)',
        `Exporting to ${tar}`,
        `Exported to ${tar} (${shown})`,
      ]);
      expect(bk[5]).toMatch(
        new RegExp(`^Successfully backed up 2 tag\\(s\\) from "${repo}" to "${tar}" in [0-9.hm]+(µs|ms|s)\\.$`),
      );

      const target = `${REG}/${uniqueRepo('compat/rstext')}`;
      const rs = (await ok(['restore', '--input', tar, target])).stdout.split('\n');
      expect(rs.slice(0, 4)).toEqual([
        `Loaded backup archive: ${tar} (${shown})`,
        'Found 2 tag(s) in the backup: v1, v2',
        'Pushed tag v1 with 1 referrer(s)',
        'Pushed tag v2 with 1 referrer(s)',
      ]);
      expect(rs[4]).toMatch(new RegExp(`^Successfully restored 2 tag\\(s\\) to "${target}" in [0-9.hm]+(µs|ms|s)$`));
    },
    T,
  );

  it(
    'backing up a tagged referrer brings its subject (oras-go CopyGraph follows subject), and restore pushes both',
    async () => {
      const repo = `${REG}/${uniqueRepo('compat/bksubject')}`;
      const subject = json<{ digest: string }>(await ok(['push', `${repo}:v1`, 'a.txt', '--format', 'json'])).digest;
      const note = json<{ digest: string }>(
        await ok([
          'attach',
          `${repo}:v1`,
          '--artifact-type',
          'application/vnd.example.note',
          'b.txt',
          '--format',
          'json',
        ]),
      ).digest;
      await ok(['tag', `${repo}@${note}`, 'note']);
      const dir = join(root, 'bk-subject');
      await ok(['backup', `${repo}:note`, '--output', dir]);
      const target = `${REG}/${uniqueRepo('compat/rs-subject')}`;
      await ok(['restore', '--input', dir, target]);
      expect((await ok(['resolve', `${target}@${subject}`])).stdout.trim()).toBe(subject);
      expect((await ok(['resolve', `${target}:note`])).stdout.trim()).toBe(note);
    },
    T,
  );

  it('humanize: bytes and durations as oras formats them', async () => {
    const { orasBytes, orasDuration } = await import('../../src/cli/render/backup-text.js');
    // humanize.ToBytes(n).String() and humanize.FormatDuration(d), computed by hand from bytes.go / duration.go.
    expect([512, 1536, 12_800, 1_048_576, 5_000_000].map(orasBytes)).toEqual([
      '512  B',
      '1.5 KB',
      '12.5 KB',
      '1 MB',
      '4.77 MB',
    ]);
    expect([0, 0.5, 12.4, 1500, 61_000, 3_600_000].map(orasDuration)).toEqual([
      '0s',
      '500µs',
      '12ms',
      '2s',
      '1m1s',
      '1h0m0s',
    ]);
  });
});

describe('completion (root/completion.go: bash, zsh, fish, powershell)', () => {
  it(
    'the bash script completes commands, subcommands and flags from the command tree',
    async () => {
      const { spawnSync } = await import('node:child_process');
      const script = (await ok(['completion', 'bash'])).stdout;
      await writeFile(join(root, 'oras-completion.bash'), script);
      const complete = (words: string[]): string[] => {
        const cmd = `source ./oras-completion.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _oras; printf '%s\\n' "\${COMPREPLY[@]}"`;
        const r = spawnSync('bash', ['-c', cmd], { cwd: root, encoding: 'utf8', timeout: 30_000 });
        return r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .sort();
      };
      expect(complete(['oras', 'pu'])).toEqual(['publish', 'pull', 'push']);
      expect(complete(['oras', 'manifest', 'fetch'])).toEqual(['fetch', 'fetch-config']);
      expect(complete(['oras', 'push', 'localhost:5000/x:v1', '--artifact-t'])).toEqual(['--artifact-type']);
      expect(complete(['oras', 'discover', '--plat'])).toEqual(['--platform']);
      expect((await ok(['completion', 'zsh'])).stdout).toContain('bashcompinit');
      expect((await ok(['completion', 'fish'])).stdout).toContain("complete -c oras -n '__fish_use_subcommand' -a '");
      expect((await ok(['completion', 'powershell'])).stdout).toContain(
        'Register-ArgumentCompleter -Native -CommandName oras',
      );
      expect((await oras(['completion', 'tcsh'])).code).toBe(2);
    },
    T,
  );
});
