import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { isOrasError } from '../../src/errors.js';
import type { ProjectEvent } from '../../src/project/events.js';
import type { Lockfile } from '../../src/project/types.js';

/** Writes files (POSIX relative paths → content) under `dir`. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(dir, ...rel.split('/'));
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, content);
  }
}

/** Lists regular files under `dir` (POSIX, sorted), skipping `.oras`. */
export async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(join(dir, ...prefix.split('/').filter(Boolean)), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (rel === '.oras') continue;
    if (e.isDirectory()) out.push(...(await listTree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** Counts calls that would hit the network on a wrapped target. */
export interface CallCounter {
  fetch: number;
  resolve: number;
  tags: number;
  push: number;
  exists: number;
}

export function newCounter(): CallCounter {
  return { fetch: 0, resolve: 0, tags: 0, push: 0, exists: 0 };
}

/** Wraps a target so every method call is counted in `counter`. */
export function counted<T extends object>(target: T, counter: CallCounter): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (typeof prop === 'string' && prop in counter) counter[prop as keyof CallCounter] += 1;
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/**
 * A target factory backed by OCI layouts: repository `host/a/b` lives in
 * `<root>/host/a/b` (`:` replaced). Calls are counted in `counter`.
 */
export function layoutFactory(
  root: string,
  counter: CallCounter = newCounter(),
): (repository: string) => Promise<OciLayoutStore> {
  const stores = new Map<string, Promise<OciLayoutStore>>();
  return async (repository: string) => {
    let s = stores.get(repository);
    if (s === undefined) {
      s = OciLayoutStore.open(join(root, ...repository.replace(/:/g, '_').split('/')));
      stores.set(repository, s);
    }
    return counted(await s, counter);
  };
}

/** Collects events. */
export function recorder(): {
  events: ProjectEvent[];
  onEvent: (e: ProjectEvent) => void;
  count: (type: ProjectEvent['type']) => number;
} {
  const events: ProjectEvent[] = [];
  return {
    events,
    onEvent: (e) => {
      events.push(e);
    },
    count: (type) => events.filter((e) => e.type === type).length,
  };
}

/** sha256 of a file's content, `sha256:<hex>`. */
export async function fileDigest(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

/** Every locked file path of a lockfile, sorted. */
export function lockedPaths(lock: Lockfile): string[] {
  return Object.values(lock.dependencies)
    .flatMap((d) => d.files.map((f) => f.path))
    .sort();
}

/** Asserts-free check that the tree under `dir` has exactly the locked files with their digests; returns mismatches. */
export async function treeMismatches(
  dir: string,
  lock: Lockfile,
  extraAllowed: string[] = ['artifacts.yaml', 'artifacts.lock'],
): Promise<string[]> {
  const problems: string[] = [];
  const want = new Map<string, string>();
  for (const d of Object.values(lock.dependencies)) for (const f of d.files) want.set(f.path, f.digest);
  const have = await listTree(dir);
  for (const p of have) {
    if (extraAllowed.includes(p)) continue;
    if (p.includes('.oras-tmp-')) problems.push(`temp file left: ${p}`);
    else if (!want.has(p)) problems.push(`unexpected: ${p}`);
  }
  for (const [p, digest] of want) {
    if (!have.includes(p)) problems.push(`missing: ${p}`);
    else if ((await fileDigest(join(dir, ...p.split('/')))) !== digest) problems.push(`wrong content: ${p}`);
  }
  return problems;
}

/** The `code` of the OrasError `p` rejects with, or `'no error'`; any other error is rethrown. */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isOrasError(err)) return err.code;
    throw err;
  }
  return 'no error';
}
