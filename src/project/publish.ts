import { lstat, readdir } from 'node:fs/promises';
import { join, posix, resolve as resolvePath } from 'node:path';
import picomatch from 'picomatch';
import { packArtifact, type PackFileInput } from '../artifact/pack.js';
import { normalizeRelativePath } from '../artifact/safe-path.js';
import type { Exists, Pusher, Target } from '../content/store.js';
import { OrasError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import { parseReference, referenceTarget, validateTag } from '../oci/reference.js';
import { repositoryOf } from './spec/dependency-ref.js';
import { emit, type ProjectListener } from './events.js';
import { readLockfile, serializeLockfile, writeLockfile } from './spec/lockfile.js';
import { loadManifest } from './spec/manifest.js';
import { withProjectLock } from './apply/project-lock.js';
import { LOCKFILE_VERSION, type LockedPublish, type Lockfile, type PublishSpec } from './types.js';

/** Builds a writable target for a repository `registry/repo`. */
export type PublishTargetFactory = (repository: string) => Target | Promise<Target>;

/** Options for {@link publish}. */
export interface PublishOptions {
  projectDir: string;
  /** Publishables to publish (default: all, sorted by name). Unknown names → `ERR_ORAS_USAGE`. */
  names?: string[];
  /** Pack (hash) but push nothing, tag nothing and leave the lock alone; returns the manifests. */
  dryRun?: boolean;
  targetFactory: PublishTargetFactory;
  /** Parallel hashing/uploads per publishable (default 3). */
  concurrency?: number;
  /** How long to wait for another process holding the project lock (default 10 min). */
  lockTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** One published (or, dry-run, packed) publishable. */
export interface PublishedArtifact {
  name: string;
  /** `registry/repo`. */
  ref: string;
  digest: string;
  tags: string[];
  descriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** Blobs actually uploaded (0 when everything existed, or in a dry run). */
  uploaded: number;
}

/** What {@link publish} did. */
export interface PublishResult {
  published: PublishedArtifact[];
  /** True when the lock's `publish` section changed (written unless dry-run). */
  lockfileChanged: boolean;
  dryRun: boolean;
}

const MAX_WALK_ENTRIES = 100_000;
const SKIP_DIRS = new Set(['.oras', '.git']);

/** Project-relative regular files under `base` (POSIX, sorted), skipping .oras/.git and never following symlinks. */
async function walkFiles(projectDir: string, base: string): Promise<string[]> {
  const out: string[] = [];
  let seen = 0;
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(rel === '' ? projectDir : join(projectDir, ...rel.split('/')), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      if (++seen > MAX_WALK_ENTRIES) throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `glob walk visited more than ${MAX_WALK_ENTRIES} entries`, { hint: 'narrow the glob (give it a directory prefix)' });
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (rel === '' && SKIP_DIRS.has(e.name)) continue;
        await walk(child);
      } else if (e.isFile()) out.push(child);
    }
  };
  await walk(base);
  return out.sort();
}

/** Expands a publishable's `files` (paths and globs, relative to the project root) into pack inputs, sorted within each glob. */
export async function expandPublishFiles(projectDir: string, files: PublishSpec['files']): Promise<PackFileInput[]> {
  const inputs: PackFileInput[] = [];
  for (const entry of files) {
    const spec = typeof entry === 'string' ? { path: entry } : entry;
    const scan = picomatch.scan(spec.path);
    if (!scan.isGlob) {
      const rel = normalizeRelativePath(spec.path);
      try {
        await lstat(join(projectDir, ...rel.split('/')));
      } catch {
        throw new OrasError('ERR_ORAS_IO', `publish file ${JSON.stringify(spec.path)} does not exist in the project`, { hint: 'fix the path in artifacts.yaml, or create the file' });
      }
      inputs.push({ path: rel, title: spec.title ?? rel, ...(spec.mediaType !== undefined ? { mediaType: spec.mediaType } : {}) });
      continue;
    }
    const base = scan.base === '' ? '' : normalizeRelativePath(scan.base);
    const match = picomatch(spec.path, { dot: false });
    const matched = (await walkFiles(projectDir, base)).filter((p) => match(p));
    if (matched.length === 0) throw new OrasError('ERR_ORAS_USAGE', `publish glob ${JSON.stringify(spec.path)} matches no file`, { hint: 'fix the glob in artifacts.yaml' });
    for (const p of matched) {
      inputs.push({ path: p, title: spec.title !== undefined && matched.length === 1 ? spec.title : posix.basename(p), ...(spec.mediaType !== undefined ? { mediaType: spec.mediaType } : {}) });
    }
  }
  return inputs;
}

/** A store for dry runs: claims every blob exists, so nothing is read twice or pushed. */
const DRY_RUN_STORE: Pusher & Exists = {
  exists: async () => true,
  push: async () => undefined,
};

/** Tags of a publishable: `tags`, else the tag in `ref`, else `latest`. Validated. */
export function publishTags(spec: PublishSpec): string[] {
  const ref = parseReference(spec.ref);
  const tags = spec.tags !== undefined && spec.tags.length > 0 ? spec.tags : [ref.tag ?? 'latest'];
  return [...new Set(tags.map(validateTag))];
}

/**
 * Publishes the project's publishables: for each (sorted by name), expand
 * files and globs, pack reproducibly with `packArtifact` (same inputs → same
 * manifest digest; blobs already in the registry are not uploaded again),
 * attach `subject` (resolved to a descriptor), push and tag, then record
 * `{ ref, digest, tags }` in the lock's `publish` section (written once at the
 * end, atomically). Holds the project lock. `dryRun` packs without pushing
 * and returns the manifests that would be pushed.
 */
export async function publish(options: PublishOptions): Promise<PublishResult> {
  const projectDir = resolvePath(options.projectDir);
  const dryRun = options.dryRun === true;
  const onEvent = options.onEvent;
  const lockOpts = { ...(onEvent ? { onEvent } : {}), ...(options.signal ? { signal: options.signal } : {}), ...(options.lockTimeoutMs !== undefined ? { timeoutMs: options.lockTimeoutMs } : {}) };
  return withProjectLock(projectDir, lockOpts, async () => {
    const { manifest } = await loadManifest(projectDir);
    const all = Object.keys(manifest.publish).sort();
    const names = options.names !== undefined && options.names.length > 0 ? [...new Set(options.names)].sort() : all;
    const unknown = names.filter((n) => manifest.publish[n] === undefined);
    if (unknown.length > 0) {
      throw new OrasError('ERR_ORAS_USAGE', `unknown publishable${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`, { hint: `declared: ${all.join(', ') || '(none)'}` });
    }
    const oldLock = await readLockfile(projectDir);
    const lock: Lockfile = { lockfileVersion: LOCKFILE_VERSION, dependencies: { ...(oldLock?.dependencies ?? {}) }, publish: { ...(oldLock?.publish ?? {}) } };
    const published: PublishedArtifact[] = [];
    for (const name of names) {
      const spec = manifest.publish[name]!;
      const ref = parseReference(spec.ref);
      const repo = repositoryOf(ref);
      const tags = publishTags(spec);
      const files = await expandPublishFiles(projectDir, spec.files);
      let subject: Descriptor | undefined;
      if (spec.subject !== undefined) {
        const s = parseReference(spec.subject);
        const st = await options.targetFactory(repositoryOf(s));
        const d = await st.resolve(referenceTarget(s), options.signal ? { signal: options.signal } : {});
        subject = { mediaType: d.mediaType, digest: d.digest, size: d.size };
      }
      const target = dryRun ? DRY_RUN_STORE : await options.targetFactory(repo);
      let uploaded = 0;
      const packed = await packArtifact(target, {
        files,
        cwd: projectDir,
        ...(spec.config !== undefined ? { config: { path: normalizeRelativePath(spec.config.file), mediaType: spec.config.mediaType ?? MediaType.UnknownConfig } } : {}),
        ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
        ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
        ...(subject !== undefined ? { subject } : {}),
        ...(dryRun ? {} : { tags }),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        onEvent: (e) => { if (e.type === 'done' && e.descriptor.mediaType !== packedManifestType) uploaded += 1; },
      });
      emit(onEvent, { type: 'publish', name, ref: repo, digest: packed.descriptor.digest, tags, dryRun });
      published.push({ name, ref: repo, digest: packed.descriptor.digest, tags, descriptor: packed.descriptor, manifest: packed.manifest, manifestBytes: packed.manifestBytes, uploaded });
      const record: LockedPublish = { ref: repo, digest: packed.descriptor.digest, tags };
      lock.publish[name] = record;
    }
    const lockfileChanged = oldLock === undefined || serializeLockfile(oldLock) !== serializeLockfile(lock);
    if (lockfileChanged && !dryRun) {
      const path = await writeLockfile(projectDir, lock);
      emit(onEvent, { type: 'lockfile-written', path });
    }
    return { published, lockfileChanged, dryRun };
  });
}

const packedManifestType = MediaType.ImageManifest;
