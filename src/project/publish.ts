import { readdir } from 'node:fs/promises';
import { join, posix, resolve as resolvePath } from 'node:path';
import picomatch from 'picomatch';
import { packArtifact, type PackArtifactOptions, type PackFileInput } from '../artifact/pack.js';
import { normalizeRelativePath } from '../artifact/safe-path.js';
import type { Exists, Pusher, Target } from '../content/store.js';
import { OrasError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import { parseReference, referenceTarget } from '../oci/reference.js';
import { repositoryOf } from './spec/dependency-ref.js';
import { emit, type ProjectListener } from './events.js';
import { readLockfile, serializeLockfile, writeLockfile } from './spec/lockfile.js';
import { loadManifest } from './spec/manifest.js';
import { withProjectLock } from './apply/project-lock.js';
import { withConfiguredTargets, type ConfigOptions } from './configured-targets.js';
import { isMovingTag } from './immutable-tags.js';
import { publishOrder, publishTags } from './publish-order.js';
import { assertPublishSource } from './publish-source.js';
import {
  LOCKFILE_VERSION,
  type LockedPublish,
  type Lockfile,
  type ProjectManifest,
  type PublishSpec,
} from './types.js';

export { publishTags } from './publish-order.js';

/** Builds a writable target for a repository `registry/repo`. */
export type PublishTargetFactory = (repository: string) => Target | Promise<Target>;

/**
 * Options for {@link publish}. Without a `targetFactory` the stores come from the oras config
 * (see {@link ConfigOptions}), as in `oras publish`: a host mapped with `ociLayout` writes into
 * that layout, any other goes to the registry itself (never to a mirror).
 */
export interface PublishOptions extends ConfigOptions {
  projectDir: string;
  /** Publishables to publish (default: all; in-project subjects first, else by name). Unknown names → `ERR_ORAS_USAGE`. */
  names?: string[];
  /** Pack (hash) but push nothing, tag nothing and leave the lock alone; returns the manifests. */
  dryRun?: boolean;
  /** Where to push (default: the registries the oras config maps, see above). */
  targetFactory?: PublishTargetFactory;
  /**
   * Move release tags (full semantic versions, see `immutable-tags.ts`) that
   * already point at other content in the registry. Without it such a publish
   * is refused with `ERR_ORAS_IMMUTABLE_TAG` (also in a dry run).
   */
  force?: boolean;
  /** Parallel hashing/uploads per publishable (default 3). */
  concurrency?: number;
  /** How long to wait for another process holding the project lock (default 10 min). */
  lockTimeoutMs?: number;
  /** Environment for the oras config search, credentials and time bounds (over `process.env`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** {@link PublishOptions} once the stores are settled. */
type SettledPublishOptions = PublishOptions & { targetFactory: PublishTargetFactory };

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
  /** True when every tag already pointed at this digest: nothing was pushed. */
  unchanged: boolean;
  /** Tags that existed with other content and were moved (`force`, or moving tags), with their old digests. */
  moved: { tag: string; from: string }[];
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
      if (++seen > MAX_WALK_ENTRIES)
        throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `glob walk visited more than ${MAX_WALK_ENTRIES} entries`, {
          hint: 'narrow the glob (give it a directory prefix)',
        });
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
      const identity = await assertPublishSource(projectDir, rel, { followSymlinks: spec.followSymlinks === true });
      inputs.push({
        path: rel,
        ...(identity !== undefined ? { identity } : {}),
        title: spec.title ?? rel,
        ...(spec.mediaType !== undefined ? { mediaType: spec.mediaType } : {}),
      });
      continue;
    }
    const base = scan.base === '' ? '' : normalizeRelativePath(scan.base);
    const match = picomatch(spec.path, { dot: false });
    const matched = (await walkFiles(projectDir, base)).filter((p) => match(p));
    if (matched.length === 0)
      throw new OrasError('ERR_ORAS_USAGE', `publish glob ${JSON.stringify(spec.path)} matches no file`, {
        hint: 'fix the glob in artifacts.yaml',
      });
    for (const p of matched) {
      // The walk lists what readdir sees; each match is checked like a plain path (no symlinked
      // parent, e.g. a glob base that links out of the project) and read by its identity.
      const identity = await assertPublishSource(projectDir, p, { followSymlinks: spec.followSymlinks === true });
      inputs.push({
        path: p,
        ...(identity !== undefined ? { identity } : {}),
        title: spec.title !== undefined && matched.length === 1 ? spec.title : posix.basename(p),
        ...(spec.mediaType !== undefined ? { mediaType: spec.mediaType } : {}),
      });
    }
  }
  return inputs;
}

/** A store for dry runs: claims every blob exists, so nothing is read twice or pushed. */
const DRY_RUN_STORE: Pusher & Exists = {
  exists: async () => true,
  push: async () => undefined,
};

/** One publishable as computed before anything is pushed. */
interface PlannedPublish {
  name: string;
  spec: PublishSpec;
  repo: string;
  tags: string[];
  files: PackFileInput[];
  subject: Descriptor | undefined;
  /** The packed (not pushed) manifest. */
  packed: { descriptor: Descriptor; manifest: ImageManifest; manifestBytes: Buffer };
  /** What each tag points at in the registry now (absent: no such tag). */
  existing: Map<string, string>;
}

function packOptions(
  projectDir: string,
  spec: PublishSpec,
  files: PackFileInput[],
  subject: Descriptor | undefined,
  options: SettledPublishOptions,
): PackArtifactOptions {
  return {
    files,
    cwd: projectDir,
    ...(spec.config !== undefined
      ? {
          config: {
            path: normalizeRelativePath(spec.config.file),
            mediaType: spec.config.mediaType ?? MediaType.UnknownConfig,
          },
        }
      : {}),
    ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
    ...(subject !== undefined ? { subject } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** What `tag` points at in `target` (undefined when there is no such tag). */
async function currentDigest(
  target: Target,
  tag: string,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  try {
    return (await target.resolve(tag, signal ? { signal } : {})).digest;
  } catch (err) {
    if (err instanceof OrasError && err.code === 'ERR_ORAS_NOT_FOUND') return undefined;
    throw err;
  }
}

/** The subject descriptor of `name`: from this run's plan when it is a publishable published in this run, else from the registry. */
async function resolveSubject(
  name: string,
  spec: PublishSpec,
  planned: Map<string, PlannedPublish>,
  subjectOf: Map<string, string>,
  options: SettledPublishOptions,
): Promise<Descriptor | undefined> {
  if (spec.subject === undefined) return undefined;
  const inProject = subjectOf.get(name);
  const fromPlan = inProject !== undefined ? planned.get(inProject) : undefined;
  if (fromPlan !== undefined) {
    const d = fromPlan.packed.descriptor;
    return { mediaType: d.mediaType, digest: d.digest, size: d.size };
  }
  const s = parseReference(spec.subject);
  try {
    const st = await options.targetFactory(repositoryOf(s));
    const d = await st.resolve(referenceTarget(s), options.signal ? { signal: options.signal } : {});
    return { mediaType: d.mediaType, digest: d.digest, size: d.size };
  } catch (err) {
    if (err instanceof OrasError && err.code === 'ERR_ORAS_NOT_FOUND') {
      throw new OrasError(
        'ERR_ORAS_NOT_FOUND',
        `publish.${name}.subject: ${spec.subject} does not exist in the registry`,
        {
          cause: err,
          hint:
            inProject !== undefined
              ? `it is publishable ${inProject} of this project: publish both together (\`oras publish ${inProject} ${name}\`)`
              : 'publish the subject first, or fix the reference (registry/repo:tag or registry/repo@sha256:…)',
          details: { publishable: name, field: `publish.${name}.subject`, subject: spec.subject },
        },
      );
    }
    throw err;
  }
}

/** Packs `name` without pushing (hashing only) and reads what its tags point at now. */
async function planOne(
  projectDir: string,
  manifest: ProjectManifest,
  name: string,
  planned: Map<string, PlannedPublish>,
  subjectOf: Map<string, string>,
  options: SettledPublishOptions,
): Promise<PlannedPublish> {
  const spec = manifest.publish[name]!;
  const repo = repositoryOf(parseReference(spec.ref));
  const tags = publishTags(spec);
  const files = await expandPublishFiles(projectDir, spec.files);
  const subject = await resolveSubject(name, spec, planned, subjectOf, options);
  const packed = await packArtifact(DRY_RUN_STORE, packOptions(projectDir, spec, files, subject, options));
  const target = await options.targetFactory(repo);
  const existing = new Map<string, string>();
  for (const tag of tags) {
    const d = await currentDigest(target, tag, options.signal);
    if (d !== undefined) existing.set(tag, d);
  }
  return { name, spec, repo, tags, files, subject, packed, existing };
}

/** Fails with `ERR_ORAS_IMMUTABLE_TAG` listing every release tag that would move (nothing is pushed). */
function refuseImmutableMoves(plans: PlannedPublish[]): void {
  const refusals: { publishable: string; repository: string; tag: string; old: string; new: string }[] = [];
  for (const p of plans) {
    for (const [tag, old] of p.existing) {
      if (old !== p.packed.descriptor.digest && !isMovingTag(tag, p.spec.mutableTags)) {
        refusals.push({ publishable: p.name, repository: p.repo, tag, old, new: p.packed.descriptor.digest });
      }
    }
  }
  if (refusals.length === 0) return;
  const lines = refusals.map(
    (r) => `  publish.${r.publishable}: ${r.repository}:${r.tag} is ${r.old} → would become ${r.new}`,
  );
  const first = refusals[0]!;
  throw new OrasError(
    'ERR_ORAS_IMMUTABLE_TAG',
    `refusing to move ${refusals.length === 1 ? 'a published release tag' : `${refusals.length} published release tags`} to other content (release tags are immutable):\n${lines.join('\n')}`,
    {
      hint: `publish under a new version, list the tag under publish.${first.publishable}.mutableTags, or pass --force to move it (SBOMs, signatures and other referrers attached to ${first.old} stay on that digest)`,
      details: { refusals },
    },
  );
}

/** Pushes a planned publishable (untagged), checks it is the planned manifest, then tags it. Unchanged tags are not touched. */
async function pushOne(
  projectDir: string,
  p: PlannedPublish,
  options: SettledPublishOptions,
): Promise<{ uploaded: number; unchanged: boolean }> {
  const want = p.packed.descriptor.digest;
  if (p.tags.every((t) => p.existing.get(t) === want)) return { uploaded: 0, unchanged: true };
  const target = await options.targetFactory(p.repo);
  let uploaded = 0;
  const packed = await packArtifact(target, {
    ...packOptions(projectDir, p.spec, p.files, p.subject, options),
    onEvent: (e) => {
      if (e.type === 'done' && e.descriptor.mediaType !== packedManifestType) uploaded += 1;
    },
  });
  if (packed.descriptor.digest !== want) {
    throw new OrasError(
      'ERR_ORAS_IO',
      `publish.${p.name}: the files changed while publishing (planned ${want}, pushed ${packed.descriptor.digest}); no tag was moved`,
      {
        hint: 'rerun `oras publish` once the files are stable',
      },
    );
  }
  for (const tag of p.tags) {
    if (p.existing.get(tag) !== want)
      await target.tag(packed.descriptor, tag, options.signal ? { signal: options.signal } : {});
  }
  return { uploaded, unchanged: false };
}

/**
 * Publishes the project's publishables, computing first and pushing after:
 *
 * 1. Order: in-project subjects first ({@link publishOrder}; cycles →
 *    `ERR_ORAS_CYCLE` naming the `publish.<name>.subject` fields).
 * 2. Plan each: expand files and globs, resolve `subject` (from this run's
 *    plan when it is a publishable of this run, else from the registry; a
 *    missing one → `ERR_ORAS_NOT_FOUND` naming `publish.<name>.subject`),
 *    pack reproducibly without pushing (same inputs → same manifest digest)
 *    and read what each tag points at now.
 * 3. Refuse, before anything is pushed, to move a release tag (see
 *    `immutable-tags.ts`) to other content, unless `force`
 *    (`ERR_ORAS_IMMUTABLE_TAG` with old → new digests; the same in a dry run).
 * 4. Unless `dryRun`: push each (blobs already in the registry are not
 *    uploaded again; a publishable whose tags all point at its digest already
 *    is left alone), then tag; record `{ ref, digest, tags }` in the lock's
 *    `publish` section (written once at the end, atomically).
 *
 * Holds the project lock.
 */
export async function publish(options: PublishOptions): Promise<PublishResult> {
  if (options.targetFactory !== undefined) return publishWith({ ...options, targetFactory: options.targetFactory });
  return withConfiguredTargets(options.projectDir, options, (_config, targets) =>
    publishWith({ ...options, targetFactory: targets.writeFactory() }),
  );
}

/** {@link publish} with its stores settled. */
async function publishWith(options: SettledPublishOptions): Promise<PublishResult> {
  const projectDir = resolvePath(options.projectDir);
  const dryRun = options.dryRun === true;
  const onEvent = options.onEvent;
  const lockOpts = {
    ...(onEvent ? { onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.lockTimeoutMs !== undefined ? { timeoutMs: options.lockTimeoutMs } : {}),
  };
  return withProjectLock(projectDir, lockOpts, async () => {
    const { manifest } = await loadManifest(projectDir);
    const all = Object.keys(manifest.publish).sort();
    const names = options.names !== undefined && options.names.length > 0 ? [...new Set(options.names)].sort() : all;
    const unknown = names.filter((n) => manifest.publish[n] === undefined);
    if (unknown.length > 0) {
      throw new OrasError(
        'ERR_ORAS_USAGE',
        `unknown publishable${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`,
        { hint: `declared: ${all.join(', ') || '(none)'}` },
      );
    }
    const { order, subjectOf } = publishOrder(manifest.publish, names);
    const planned = new Map<string, PlannedPublish>();
    for (const name of order) planned.set(name, await planOne(projectDir, manifest, name, planned, subjectOf, options));
    const plans = order.map((n) => planned.get(n)!);
    if (options.force !== true) refuseImmutableMoves(plans);

    const oldLock = await readLockfile(projectDir);
    const lock: Lockfile = {
      lockfileVersion: LOCKFILE_VERSION,
      dependencies: { ...(oldLock?.dependencies ?? {}) },
      publish: { ...(oldLock?.publish ?? {}) },
    };
    const published: PublishedArtifact[] = [];
    for (const p of plans) {
      const { uploaded, unchanged } = dryRun
        ? { uploaded: 0, unchanged: p.tags.every((t) => p.existing.get(t) === p.packed.descriptor.digest) }
        : await pushOne(projectDir, p, options);
      const digest = p.packed.descriptor.digest;
      const moved = [...p.existing].filter(([, old]) => old !== digest).map(([tag, from]) => ({ tag, from }));
      emit(onEvent, { type: 'publish', name: p.name, ref: p.repo, digest, tags: p.tags, dryRun });
      published.push({
        name: p.name,
        ref: p.repo,
        digest,
        tags: p.tags,
        descriptor: p.packed.descriptor,
        manifest: p.packed.manifest,
        manifestBytes: p.packed.manifestBytes,
        uploaded,
        unchanged,
        moved,
      });
      const record: LockedPublish = { ref: p.repo, digest, tags: p.tags };
      lock.publish[p.name] = record;
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
