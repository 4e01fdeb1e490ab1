/**
 * Malicious artifacts served over HTTP by the hostile registry, consumed by the declarative
 * `install` (which unpacks directory layers into the machine-wide CACHE first, then
 * materializes files into the project) and by `pullArtifact`. Each case asserts the typed
 * error and that nothing was written outside the project and the cache: a sentinel directory
 * next to them stays empty, no file named like the payload exists anywhere, no temp
 * directory is left in the cache, no unpacked tree of the malicious layer exists, and the
 * project holds nothing but artifacts.yaml.
 *
 * extractTarGz itself is unit-tested case by case in test/artifact/tar.test.ts
 * ("extractTarGz attacks"); titles through pullArtifact in test/artifact/pull.test.ts
 * ("path traversal"). Here the same attacks go through the network and the cache.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullArtifact } from '../../src/artifact/pull.js';
import { isOrasError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { install } from '../../src/project/install.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { craftTarGz, type CraftEntry } from '../artifact/helpers.js';
import { startHostileRegistry, type ArtifactLayer, type HostileRegistry } from '../harness/hostile-registry.js';

const TGZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const UNPACK = { 'io.deis.oras.content.unpack': 'true' };

let reg: HostileRegistry;
let client: RegistryClient;
const roots: string[] = [];
let seq = 0;

beforeAll(async () => {
  reg = await startHostileRegistry();
  client = new RegistryClient({ retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 } });
});
afterAll(async () => {
  await client.close();
  await reg?.close();
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

interface Sandbox {
  root: string;
  project: string;
  cache: string;
  outside: string;
}

async function sandbox(): Promise<Sandbox> {
  const root = await mkdtemp(path.join(tmpdir(), 'oras-malicious-'));
  roots.push(root);
  const s = {
    root,
    project: path.join(root, 'w', 'project'),
    cache: path.join(root, 'w', 'cache'),
    outside: path.join(root, 'outside'),
  };
  await mkdir(s.project, { recursive: true });
  await mkdir(s.outside);
  return s;
}

async function walk(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

/** Serves `layers` under a fresh tag and installs it; returns the error and the sandbox. */
async function installHostile(
  layers: ArtifactLayer[],
  depPath = 'third_party/app',
): Promise<{ err: unknown; s: Sandbox; layerDigests: string[] }> {
  const tag = `t${++seq}`;
  const { manifest } = reg.addArtifact(layers, tag);
  const s = await sandbox();
  await writeFile(
    path.join(s.project, 'artifacts.yaml'),
    `dependencies:\n  app:\n    ref: "${reg.host}/hostile/app:${tag}"\n    path: ${depPath}\n`,
  );
  const err = await install({
    projectDir: s.project,
    cacheDir: s.cache,
    env: { CI: 'false' },
    targetFactory: (repository) => new Repository({ reference: repository, client }),
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, s, layerDigests: manifest.layers.map((l) => l.digest) };
}

/** Nothing outside project+cache, no payload anywhere, no temp dirs, no unpacked tree, project untouched. */
async function expectContained(s: Sandbox, layerDigests: string[], payloadName = 'evil'): Promise<void> {
  expect(await walk(s.outside)).toEqual([]);
  const everything = await walk(s.root);
  expect(everything.filter((p) => path.basename(p) === payloadName)).toEqual([]);
  expect(everything.filter((p) => /oras-(extract|dl|tmp)/.test(p))).toEqual([]);
  for (const d of layerDigests) {
    const hex = d.slice('sha256:'.length);
    expect(everything.filter((p) => p.includes(path.join('unpacked', 'sha256', hex)))).toEqual([]);
  }
  const projectFiles = (await walk(s.project)).filter((p) => !p.startsWith('.oras'));
  expect(projectFiles).toEqual(['artifacts.yaml']);
}

function expectCode(err: unknown, code: string): void {
  expect(isOrasError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

describe('install: malicious layer titles are refused and nothing is written', () => {
  const cases: [string, string[]][] = [
    ['../x', ['../evil']],
    ['/etc/x', ['/etc/evil']],
    ['C:..\\x', ['C:..\\evil']],
    ['.', ['.']],
    ['two layers with the same title', ['evil', 'evil']],
    ['a file layer inside another layer', ['dir', 'dir/evil']],
  ];
  for (const [name, titles] of cases) {
    it(`title ${name}`, async () => {
      const { err, s, layerDigests } = await installHostile(
        titles.map((t, i) => ({ data: Buffer.from(`payload ${i}`), title: t })),
      );
      expectCode(err, 'ERR_ORAS_PATH_TRAVERSAL');
      await expectContained(s, layerDigests);
      // no lockfile was written for an artifact that cannot be installed
      await expect(lstat(path.join(s.project, 'artifacts.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }
});

describe('install: malicious tar entries in a directory layer (unpacked into the shared cache)', () => {
  // entries live under the layer title 'pkg' (the archive root oras strips)
  const cases: [string, CraftEntry[], string][] = [
    [
      '"../" entry',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/../../../../outside/evil', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    ['bare "../" entry', [{ name: '../evil', content: 'x' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    [
      'leading slash',
      [
        { name: 'pkg/', type: 'directory' },
        { name: '/pkg/evil', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'symlink pointing out, then a file written through it',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/l', type: 'symlink', linkname: '../../../../../../outside' },
        { name: 'pkg/l/evil', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'directory replaced by a symlink of the same name, then written through',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/d/', type: 'directory' },
        { name: 'pkg/d', type: 'symlink', linkname: '../../../../../../outside' },
        { name: 'pkg/d/evil', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'relative hardlink out',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/evil', type: 'link', linkname: '../../../../../etc/passwd' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'absolute hardlink',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/evil', type: 'link', linkname: '/etc/passwd' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'FIFO',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/evil', type: 'fifo' },
      ],
      'ERR_ORAS_UNSUPPORTED',
    ],
    [
      'character device',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/evil', type: 'character-device' },
      ],
      'ERR_ORAS_UNSUPPORTED',
    ],
    [
      'block device',
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/evil', type: 'block-device' },
      ],
      'ERR_ORAS_UNSUPPORTED',
    ],
  ];
  for (const [name, entries, code] of cases) {
    it(`tar entry: ${name}`, async () => {
      const tgz = await craftTarGz(entries);
      const { err, s, layerDigests } = await installHostile([
        { data: tgz, title: 'pkg', mediaType: TGZ, annotations: UNPACK },
      ]);
      expectCode(err, code);
      await expectContained(s, layerDigests);
    });
  }

  it('a wrong io.deis.oras.content.digest (uncompressed digest) leaves no unpacked tree', async () => {
    const tgz = await craftTarGz([
      { name: 'pkg/', type: 'directory' },
      { name: 'pkg/evil', content: 'x' },
    ]);
    const { err, s, layerDigests } = await installHostile([
      {
        data: tgz,
        title: 'pkg',
        mediaType: TGZ,
        annotations: { ...UNPACK, 'io.deis.oras.content.digest': digestOf('not it') },
      },
    ]);
    expectCode(err, 'ERR_ORAS_DIGEST_MISMATCH');
    await expectContained(s, layerDigests);
  });
});

describe('pullArtifact over HTTP: decompression bounds with an option to raise', () => {
  async function pullTgz(
    entries: CraftEntry[],
    opts: { maxEntries?: number; maxUncompressedBytes?: number },
  ): Promise<{ err: unknown; left: string[] }> {
    const tag = `cap${++seq}`;
    reg.addArtifact([{ data: await craftTarGz(entries), title: 'pkg', mediaType: TGZ, annotations: UNPACK }], tag);
    const s = await sandbox();
    const out = path.join(s.root, 'out');
    const err = await pullArtifact(
      new Repository({ reference: `${reg.host}/hostile/app`, client }),
      tag,
      out,
      opts,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, left: await walk(s.root) };
  }

  it('a gzip bomb over maxUncompressedBytes → ERR_ORAS_LIMIT_EXCEEDED naming the option; raising it succeeds', async () => {
    const entries: CraftEntry[] = [
      { name: 'pkg/', type: 'directory' },
      { name: 'pkg/zeros', content: '\0'.repeat(2_000_000) },
    ];
    const small = await pullTgz(entries, { maxUncompressedBytes: 500_000 });
    expectCode(small.err, 'ERR_ORAS_LIMIT_EXCEEDED');
    expect((small.err as { hint?: string }).hint).toMatch(/maxUncompressedBytes/);
    expect(small.left.filter((p) => p !== 'outside' && p !== 'w' && !p.startsWith('w/'))).toEqual(['out']);
    const ok = await pullTgz(entries, { maxUncompressedBytes: 3_000_000 });
    expect(ok.err).toBeUndefined();
  });

  it('too many entries → ERR_ORAS_LIMIT_EXCEEDED naming the option; raising it succeeds', async () => {
    const entries: CraftEntry[] = [
      { name: 'pkg/', type: 'directory' },
      ...Array.from({ length: 50 }, (_, i) => ({ name: `pkg/f${i}`, content: 'x' })),
    ];
    const small = await pullTgz(entries, { maxEntries: 20 });
    expectCode(small.err, 'ERR_ORAS_LIMIT_EXCEEDED');
    expect((small.err as { hint?: string }).hint).toMatch(/maxEntries/);
    const ok = await pullTgz(entries, { maxEntries: 51 });
    expect(ok.err).toBeUndefined();
  });

  it('a symlink-then-write-through layer is refused over HTTP too and leaves nothing', async () => {
    const r = await pullTgz(
      [
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/l', type: 'symlink', linkname: '../../outside' },
        { name: 'pkg/l/evil', content: 'x' },
      ],
      {},
    );
    expectCode(r.err, 'ERR_ORAS_PATH_TRAVERSAL');
    expect(r.left.filter((p) => path.basename(p) === 'evil')).toEqual([]);
    expect(r.left.filter((p) => p.startsWith('outside/'))).toEqual([]);
  });

  // Was a defect (fixed: InstallOptions.maxEntries/maxUncompressedBytes → ProjectCache limits →
  // extractTarGz): install used the extractTarGz defaults and had no option to change them.
  it('install: maxEntries / maxUncompressedBytes bound directory layers (install → cache), and raising them works', async () => {
    const entries: CraftEntry[] = [
      { name: 'pkg/', type: 'directory' },
      ...Array.from({ length: 50 }, (_, i) => ({ name: `pkg/f${i}`, content: 'x'.repeat(1000) })),
    ];
    const tag = `icap${++seq}`;
    const { manifest } = reg.addArtifact(
      [{ data: await craftTarGz(entries), title: 'pkg', mediaType: TGZ, annotations: UNPACK }],
      tag,
    );
    const run = async (limits: {
      maxEntries?: number;
      maxUncompressedBytes?: number;
    }): Promise<{ err: unknown; s: Sandbox }> => {
      const s = await sandbox();
      await writeFile(
        path.join(s.project, 'artifacts.yaml'),
        `dependencies:\n  app:\n    ref: "${reg.host}/hostile/app:${tag}"\n    path: third_party/app\n`,
      );
      const err = await install({
        projectDir: s.project,
        cacheDir: s.cache,
        env: { CI: 'false' },
        ...limits,
        targetFactory: (repository: string) => new Repository({ reference: repository, client }),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { err, s };
    };
    const few = await run({ maxEntries: 20 });
    expectCode(few.err, 'ERR_ORAS_LIMIT_EXCEEDED');
    expect((few.err as { hint?: string }).hint).toMatch(/maxEntries/);
    await expectContained(
      few.s,
      manifest.layers.map((l) => l.digest),
    );
    const small = await run({ maxUncompressedBytes: 10_000 });
    expectCode(small.err, 'ERR_ORAS_LIMIT_EXCEEDED');
    expect((small.err as { hint?: string }).hint).toMatch(/maxUncompressedBytes/);
    const ok = await run({ maxEntries: 51, maxUncompressedBytes: 1_000_000 });
    expect(ok.err).toBeUndefined();
  });
});
