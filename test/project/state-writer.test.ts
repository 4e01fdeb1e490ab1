/**
 * The state is written piece by piece through one reused buffer (src/project/apply/state-writer.ts).
 * Its text must stay exactly what JSON.stringify wrote before (the oracle below is that code), its
 * MAC must be the MAC of that text, and what it writes must read back.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, serializeState, writeState } from '../../src/project/apply/state.js';
import { stateMac } from '../../src/project/apply/state-key.js';
import { MAC_PREFIX, MAC_SUFFIX, writeSignedStateSync } from '../../src/project/apply/state-writer.js';
import type { InstallState, InstalledFile } from '../../src/project/types.js';

/** The serializer before state-writer.ts: one JSON.stringify of the whole state. */
function oracle(state: InstallState): string {
  const files: Record<string, InstalledFile> = {};
  for (const key of Object.keys(state.files).sort()) {
    const f = state.files[key]!;
    files[key] = {
      path: f.path,
      digest: f.digest,
      size: f.size,
      mtimeMs: f.mtimeMs,
      ino: f.ino,
      dependency: f.dependency,
    };
  }
  const inputs =
    state.inputs === undefined
      ? undefined
      : {
          manifest: {
            name: state.inputs.manifest.name,
            size: state.inputs.manifest.size,
            mtimeMs: state.inputs.manifest.mtimeMs,
            ino: state.inputs.manifest.ino,
            sha256: state.inputs.manifest.sha256,
          },
          lock: state.inputs.lock,
          agree: state.inputs.agree,
        };
  const roots: Record<string, string[]> = {};
  for (const dep of Object.keys(state.roots ?? {}).sort()) roots[dep] = [...new Set(state.roots![dep])].sort();
  return `${JSON.stringify({ stateVersion: 1, ...(inputs !== undefined ? { inputs } : {}), roots, files }, null, 2)}\n`;
}

const DIGEST = `sha256:${'ab'.repeat(32)}`;
function rec(path: string, dependency = 'dep', extra: Partial<InstalledFile> = {}): InstalledFile {
  return { path, digest: DIGEST, size: 1024, mtimeMs: 1764838000123.456, ino: 2 ** 40 + 7, dependency, ...extra };
}
function stateOf(paths: string[], more: Partial<InstallState> = {}): InstallState {
  const files: Record<string, InstalledFile> = {};
  for (const p of [...paths].reverse()) files[p] = rec(p);
  return { stateVersion: 1, files, roots: { dep: ['vendor', 'vendor', 'a'] }, ...more };
}

const ODD = [
  'vendor/plain.txt',
  'vendor/ünïcødé/日本語.bin',
  'vendor/quote"and\\backslash',
  'vendor/tab\tand\u0001control',
  'vendor/emoji-😀.txt',
  `vendor/${'日本-'.repeat(30000)}end`, // more UTF-8 than the writer's scratch buffer holds
];
const MANY = Array.from({ length: 3000 }, (_, i) => `vendor/d${i % 7}/f${String(i).padStart(5, '0')}.bin`);

const CASES: [string, InstallState][] = [
  ['no files, no roots', { stateVersion: 1, files: {} }],
  ['one file', stateOf(['vendor/a'])],
  ['odd paths', stateOf(ODD)],
  ['many files (several flushes)', stateOf([...MANY, ...ODD])],
  [
    'inputs and fields out of order',
    {
      ...stateOf(['b', 'a']),
      files: { b: { dependency: 'dep', ino: 1, mtimeMs: 0.5, size: 0, digest: DIGEST, path: 'b' }, a: rec('a') },
      inputs: {
        manifest: { name: 'artifacts.yaml', size: 10, mtimeMs: 1.25, ino: 3, sha256: 'cd'.repeat(32) },
        lock: null,
        agree: true,
      },
    },
  ],
];

let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-state-writer-'));
  env = { ...process.env, XDG_STATE_HOME: join(dir, 'xdg'), HOME: join(dir, 'home') };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('state writer', () => {
  it.each(CASES)('serializes exactly as one JSON.stringify did: %s', (_name, state) => {
    expect(serializeState(state)).toBe(oracle(state));
  });

  it.each(CASES)('writes the signed text, MAC over the same bytes: %s', (name, state) => {
    const key = Buffer.alloc(32, 7);
    const file = join(dir, `signed-${name.replace(/\W+/g, '-')}.json`);
    const fd = openSync(file, 'wx');
    try {
      const head = JSON.parse(oracle({ ...state, files: {} })) as Record<string, unknown>;
      delete head.files;
      writeSignedStateSync(fd, key, 'binding', head, state.files);
    } finally {
      closeSync(fd);
    }
    const rest = Buffer.from(oracle(state).slice(2));
    const mac = stateMac(key, 'binding', ['{\n', rest]);
    expect(readFileSync(file).equals(Buffer.concat([MAC_PREFIX, Buffer.from(mac), MAC_SUFFIX, rest]))).toBe(true);
  });

  it('reads back what writeState wrote (3,006 files, odd paths)', async () => {
    const project = join(dir, 'project');
    await mkdir(project, { recursive: true });
    const state = stateOf([...MANY, ...ODD], { roots: { dep: ['vendor'] } });
    await writeState(project, state, { env });
    const back = await readState(project, { env });
    expect(Object.keys(back.files).length).toBe(MANY.length + ODD.length);
    expect(back.files[ODD[1]!]).toEqual(state.files[ODD[1]!]);
    expect(back.files[ODD[5]!]).toEqual(state.files[ODD[5]!]);
    expect(back.roots).toEqual({ dep: ['vendor'] });
  });
});
