/**
 * oras CLI 1.3 compatibility of `manifest index create|update`, against the real registry.
 *
 * Expected outputs are written by hand from oras v1.3.0's sources
 * (cmd/oras/root/manifest/index/{create,update}.go, display/status/text.go
 * `IndexPrompt*`, display/metadata/text/manifest_index.go, and the e2e cases in
 * test/e2e/suite/command/manifest_index.go, whose `OutputIndex` constant shows
 * the byte form: Go's encoding/json over image-spec v1.1.1's Index), never
 * captured from this CLI. Digests are computed here from the expected bytes.
 * This project prints oras's status lines on stderr (README differences table).
 */
import { createHash } from 'node:crypto';
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

async function oras(args: string[], input?: string): Promise<CliResult> {
  return runCli(args, env, { cwd: root, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[], input?: string): Promise<CliResult> {
  const r = await oras(args, input);
  expect(r.code, show(r)).toBe(0);
  return r;
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-compat-index-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  env = { ...baseEnv(join(root, 'docker')), HOME: root };
  REG = registry('plain').host;
  await writeFile(join(root, 'a.txt'), 'alpha\n');
});

afterAll(async () => {
  await cleanup?.();
});

interface Image {
  digest: string;
  size: number;
}

/**
 * Pushes an image manifest whose config is an image config for `platform`
 * (the config also carries unrelated keys, as real image configs do), tagged `tag`.
 */
async function pushImage(repo: string, tag: string, platform: Record<string, string>): Promise<Image> {
  const config = Buffer.from(
    JSON.stringify({ created: '2026-01-01T00:00:00Z', ...platform, rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const name = `cfg-${tag}.json`;
  await writeFile(join(root, name), config);
  await ok(['blob', 'push', `${repo}@${sha256(config)}`, name]);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [],
    }),
  );
  await writeFile(join(root, `m-${tag}.json`), manifest);
  await ok(['manifest', 'push', `${repo}:${tag}`, `m-${tag}.json`]);
  return { digest: sha256(manifest), size: manifest.length };
}

/** The repo with `linux-amd64`, `linux-arm64` (variant v8) and `linux-arm` (v7) images. */
async function imageRepo(what: string): Promise<{ repo: string; amd64: Image; arm64: Image; armv7: Image }> {
  const repo = `${REG}/${uniqueRepo(`compat/index-${what}`)}`;
  const amd64 = await pushImage(repo, 'linux-amd64', { architecture: 'amd64', os: 'linux' });
  const arm64 = await pushImage(repo, 'linux-arm64', { architecture: 'arm64', os: 'linux', variant: 'v8' });
  const armv7 = await pushImage(repo, 'linux-armv7', { os: 'linux', architecture: 'arm', variant: 'v7' });
  return { repo, amd64, arm64, armv7 };
}

/** Index entries as oras writes them (image-spec Descriptor field order; Platform: architecture, os, …, variant). */
const entry = {
  amd64: (i: Image): string =>
    `{"mediaType":"${MANIFEST}","digest":"${i.digest}","size":${i.size},"platform":{"architecture":"amd64","os":"linux"}}`,
  arm64: (i: Image): string =>
    `{"mediaType":"${MANIFEST}","digest":"${i.digest}","size":${i.size},"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}`,
  armv7: (i: Image): string =>
    `{"mediaType":"${MANIFEST}","digest":"${i.digest}","size":${i.size},"platform":{"architecture":"arm","os":"linux","variant":"v7"}}`,
};

function indexOf(entries: string[], extra = ''): string {
  return `{"schemaVersion":2,"mediaType":"${INDEX}"${extra},"manifests":[${entries.join(',')}]}`;
}

describe('manifest index create (root/manifest/index/create.go)', () => {
  it(
    'by tag and digest, with extra tags: status lines, Tagged, Digest; the pushed bytes are oras-identical',
    async () => {
      const { repo, amd64, arm64 } = await imageRepo('create');
      const expected = indexOf([entry.amd64(amd64), entry.arm64(arm64)]);
      const digest = sha256(expected);
      const r = await ok(['manifest', 'index', 'create', `${repo}:v1,t2`, 'linux-amd64', arm64.digest]);
      // display/metadata/text/manifest_index.go: "Tagged" per extra tag, then "Digest:".
      expect(r.stdout).toBe(`Tagged t2\nDigest: ${digest}\n`);
      // display/status/text.go: IndexPromptFetching/Fetched/Packed/Pushed via Println (a space after each padded prompt).
      expect(r.stderr).toBe(
        [
          'Fetching  linux-amd64',
          `Fetched   ${amd64.digest} linux-amd64`,
          `Fetching  ${arm64.digest}`,
          `Fetched   ${arm64.digest}`,
          `Packed    ${digest.slice(7, 19)} ${INDEX}`,
          `Pushed    [registry] ${repo}:v1`,
          '',
        ].join('\n'),
      );
      expect((await ok(['manifest', 'fetch', `${repo}:v1`])).stdout).toBe(expected);
      expect((await ok(['resolve', `${repo}:t2`])).stdout.trim()).toBe(digest);
      // The alias `pack`, and a repository without a tag: pushed by digest, `Pushed [registry] REPO`.
      const untagged = await ok(['manifest', 'index', 'pack', repo, 'linux-arm64']);
      const one = indexOf([entry.arm64(arm64)]);
      expect(untagged.stdout).toBe(`Digest: ${sha256(one)}\n`);
      expect(untagged.stderr.split('\n').at(-2)).toBe(`Pushed    [registry] ${repo}`);
      expect((await ok(['manifest', 'fetch', `${repo}@${sha256(one)}`])).stdout).toBe(one);
      // Platform selection works on the created index.
      expect((await ok(['resolve', `${repo}:v1`, '--platform', 'linux/arm64'])).stdout.trim()).toBe(arm64.digest);
    },
    T,
  );

  it(
    '--output - prints only the index (Go escaping of <>&; --pretty is json.Indent); --output FILE writes it; nothing is pushed',
    async () => {
      const { repo, amd64 } = await imageRepo('output');
      const extra = ',"artifactType":"application/vnd.example+type"';
      const expected = `{"schemaVersion":2,"mediaType":"${INDEX}"${extra},"manifests":[${entry.amd64(amd64)}],"annotations":{"a":"x\\u0026y","b":"\\u003cz\\u003e"}}`;
      const args = ['manifest', 'index', 'create', `${repo}:out`, 'linux-amd64'];
      const opts = ['--artifact-type', 'application/vnd.example+type', '-a', 'b=<z>', '-a', 'a=x&y'];
      const r = await ok([...args, ...opts, '--output', '-']);
      expect(r.stdout).toBe(expected);
      expect(r.stderr).toBe('');
      const pretty = await ok([...args, ...opts, '--output', '-', '--pretty']);
      expect(pretty.stdout).toBe(
        [
          '{',
          '  "schemaVersion": 2,',
          `  "mediaType": "${INDEX}",`,
          '  "artifactType": "application/vnd.example+type",',
          '  "manifests": [',
          '    {',
          `      "mediaType": "${MANIFEST}",`,
          `      "digest": "${amd64.digest}",`,
          `      "size": ${amd64.size},`,
          '      "platform": {',
          '        "architecture": "amd64",',
          '        "os": "linux"',
          '      }',
          '    }',
          '  ],',
          '  "annotations": {',
          '    "a": "x\\u0026y",',
          '    "b": "\\u003cz\\u003e"',
          '  }',
          '}',
          '',
        ].join('\n'),
      );
      const file = join(root, 'created-index.json');
      const f = await ok([...args, ...opts, '--output', file, '--pretty']);
      expect(await readFile(file, 'utf8')).toBe(expected); // --pretty is ignored for a file (content/manifest_index.go)
      expect(f.stdout).toBe(`Digest: ${sha256(expected)}\n`);
      expect(f.stderr).not.toContain('Pushed');
      expect((await oras(['resolve', `${repo}:out`])).code).toBe(3);
      // An empty index (no sources): "manifests":[] is never omitted.
      expect((await ok(['manifest', 'index', 'create', repo, '--output', '-'])).stdout).toBe(indexOf([]));
    },
    T,
  );

  it(
    'an artifact source contributes its artifactType and no platform (its config is not an image config); a nested index its artifactType',
    async () => {
      const { repo, amd64 } = await imageRepo('artifact');
      const pushed = JSON.parse(
        (
          await ok([
            'push',
            `${repo}:art`,
            'a.txt',
            '--artifact-type',
            'application/vnd.test-example',
            '--format',
            'json',
          ])
        ).stdout,
      ) as { digest: string; size: number };
      await ok([
        'manifest',
        'index',
        'create',
        `${repo}:inner`,
        'linux-amd64',
        '--artifact-type',
        'application/vnd.inner',
      ]);
      const inner = indexOf([entry.amd64(amd64)], ',"artifactType":"application/vnd.inner"');
      const r = await ok(['manifest', 'index', 'create', `${repo}:outer`, 'art', 'inner', '--output', '-']);
      expect(r.stdout).toBe(
        indexOf([
          `{"mediaType":"${MANIFEST}","digest":"${pushed.digest}","size":${pushed.size},"artifactType":"application/vnd.test-example"}`,
          `{"mediaType":"${INDEX}","digest":"${sha256(inner)}","size":${inner.length},"artifactType":"application/vnd.inner"}`,
        ]),
      );
    },
    T,
  );

  it(
    'errors: a missing source (could not find, exit 3), a blob digest (not a manifest), invalid --artifact-type, bad -a',
    async () => {
      const { repo } = await imageRepo('errors');
      const missing = await oras(['manifest', 'index', 'create', `${repo}:x`, 'does-not-exist']);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('could not find the manifest does-not-exist');
      const at = await oras(['manifest', 'index', 'create', `${repo}:x`, 'linux-amd64', '--artifact-type', 'invalid']);
      expect(at.code).toBe(2);
      expect(at.stderr).toContain('invalid: invalid media type');
      const anno = await oras(['manifest', 'index', 'create', `${repo}:x`, 'linux-amd64', '-a', 'foo:bar']);
      expect(anno.code).toBe(2);
      expect(anno.stderr).toContain("annotation value doesn't match the required format");
      const other = await oras(['manifest', 'index', 'create', `${repo}:x`, `${REG}/elsewhere:linux-amd64`]);
      expect(other.code).toBe(2);
      expect((await oras(['resolve', `${repo}:x`])).code).toBe(3);
    },
    T,
  );

  it(
    '--oci-layout: sources and the index live in the layout; Pushed [oci-layout] DIR:TAG',
    async () => {
      const { repo, amd64 } = await imageRepo('layout');
      const dir = join(root, 'index-layout');
      await ok(['cp', `${repo}:linux-amd64`, dir + ':linux-amd64', '--to-oci-layout']);
      const r = await ok(['manifest', 'index', 'create', '--oci-layout', `${dir}:v1`, 'linux-amd64']);
      const expected = indexOf([entry.amd64(amd64)]);
      expect(r.stdout).toBe(`Digest: ${sha256(expected)}\n`);
      expect(r.stderr.split('\n').at(-2)).toBe(`Pushed    [oci-layout] ${dir}:v1`);
      expect((await ok(['manifest', 'fetch', '--oci-layout', `${dir}:v1`])).stdout).toBe(expected);
    },
    T,
  );
});

describe('manifest index update (root/manifest/index/update.go)', () => {
  it(
    '--remove, --add, --merge in that order; status lines; the tag moves to the updated index',
    async () => {
      const { repo, amd64, arm64, armv7 } = await imageRepo('update');
      await ok(['manifest', 'index', 'create', `${repo}:index01`, 'linux-amd64']);
      await ok(['manifest', 'index', 'create', `${repo}:index02`, 'linux-arm64']);
      const r = await ok([
        'manifest',
        'index',
        'update',
        `${repo}:index01`,
        '--add',
        armv7.digest,
        '--merge',
        'index02',
        '--remove',
        amd64.digest,
      ]);
      const expected = indexOf([entry.armv7(armv7), entry.arm64(arm64)]);
      const digest = sha256(expected);
      const index02 = sha256(indexOf([entry.arm64(arm64)]));
      const index01 = sha256(indexOf([entry.amd64(amd64)]));
      expect(r.stdout).toBe(`Digest: ${digest}\n`);
      expect(r.stderr).toBe(
        [
          'Fetching  index01',
          `Fetched   ${index01} index01`,
          `Removed   ${amd64.digest}`,
          `Fetching  ${armv7.digest}`,
          `Fetched   ${armv7.digest}`,
          `Added     ${armv7.digest}`,
          'Fetching  index02',
          `Fetched   ${index02} index02`,
          `Merged    ${index02} index02`,
          `Updated   ${digest}`,
          `Pushed    [registry] ${repo}:index01`,
          '',
        ].join('\n'),
      );
      expect((await ok(['manifest', 'fetch', `${repo}:index01`])).stdout).toBe(expected);
    },
    T,
  );

  it(
    'by digest with --tag: pushed by digest (Pushed [registry] REPO), tagged; --artifact-type set and removed',
    async () => {
      const { repo, amd64, arm64 } = await imageRepo('update-digest');
      const created = indexOf([entry.amd64(amd64)]);
      await ok(['manifest', 'index', 'create', repo, 'linux-amd64']);
      const r = await ok([
        'manifest',
        'index',
        'update',
        `${repo}@${sha256(created)}`,
        '--add',
        'linux-arm64',
        '--tag',
        'updated',
        '--tag',
        'u2',
      ]);
      const expected = indexOf([entry.amd64(amd64), entry.arm64(arm64)]);
      expect(r.stdout).toBe(`Tagged updated\nTagged u2\nDigest: ${sha256(expected)}\n`);
      expect(r.stderr).toContain(`Added     ${arm64.digest} linux-arm64\n`);
      expect(r.stderr).toContain(`Pushed    [registry] ${repo}\n`);
      expect((await ok(['manifest', 'fetch', `${repo}:u2`])).stdout).toBe(expected);

      await ok(['manifest', 'index', 'update', `${repo}:updated`, '--artifact-type', 'application/vnd.test-example']);
      const typed = indexOf([entry.amd64(amd64), entry.arm64(arm64)], ',"artifactType":"application/vnd.test-example"');
      expect((await ok(['manifest', 'fetch', `${repo}:updated`])).stdout).toBe(typed);
      const cleared = await ok([
        'manifest',
        'index',
        'update',
        `${repo}:updated`,
        '--artifact-type',
        '',
        '--output',
        '-',
      ]);
      expect(cleared.stdout).toBe(expected);
      expect(cleared.stderr).toBe('');
    },
    T,
  );

  it(
    'no change requested, no tag or digest, --tag with --output, --remove of a non-digest or of a digest not listed, not an index',
    async () => {
      const { repo, amd64, armv7 } = await imageRepo('update-errors');
      await ok(['manifest', 'index', 'create', `${repo}:idx`, 'linux-amd64']);
      expect((await ok(['manifest', 'index', 'update', `${repo}:idx`])).stdout).toBe(
        'Nothing to update as no change is requested\n',
      );
      const empty = await oras(['manifest', 'index', 'update', repo, '--add', armv7.digest]);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toContain(`"${repo}": no tag or digest specified`);
      const both = await oras([
        'manifest',
        'index',
        'update',
        `${repo}:idx`,
        '--add',
        'x',
        '--tag',
        't',
        '--output',
        '-',
      ]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--tag, --output cannot be used at the same time');
      const notDigest = await oras(['manifest', 'index', 'update', `${repo}:idx`, '--remove', 'latest']);
      expect(notDigest.stderr).toContain('remove: latest is not a digest');
      const absent = await oras(['manifest', 'index', 'update', `${repo}:idx`, '--remove', armv7.digest]);
      expect(absent.code).not.toBe(0);
      expect(absent.stderr).toContain(`${armv7.digest} does not exist in the index idx`);
      const notIndex = await oras(['manifest', 'index', 'update', `${repo}:linux-amd64`, '--add', armv7.digest]);
      expect(notIndex.code).not.toBe(0);
      expect(notIndex.stderr).toContain('linux-amd64 is not an index');
      const badMerge = await oras(['manifest', 'index', 'update', `${repo}:idx`, '--merge', 'linux-amd64']);
      expect(badMerge.stderr).toContain('linux-amd64 is not an index');
      const missing = await oras(['manifest', 'index', 'update', `${repo}:nope`, '--add', amd64.digest]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('could not find the index nope');
    },
    T,
  );
});
