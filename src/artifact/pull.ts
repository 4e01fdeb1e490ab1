import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { DirSyncBatch, ioError, removeTempFiles, streamToFileAtomic } from '../content/fs-atomic.js';
import { fetchAll } from '../content/read.js';
import { hasFetchManifest, type CallOptions, type ReadOnlyTarget } from '../content/store.js';
import { OrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { digestPath, isDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { Annotation, isIndexMediaType } from '../oci/media-types.js';
import { findVcsPath, isVcsSegment, placeTree } from './merge-tree.js';
import { runAll } from './run-all.js';
import { checkDownloadSize } from './size-limits.js';
import { assertParentStillInside, isInside, resolveInside, SymlinkEscapeGuard } from './safe-path.js';

/** Age after which a temp file in the output directory is considered left over by a crash: 10 minutes. */
const STALE_TEMP_MS = 10 * 60 * 1000;

/** Work directories of directory layers: `.<title>.oras-dl-XXXXXX` and `.<title>.oras-extract-XXXXXX[.old]`. */
const WORK_DIR_RE = /^\..+\.oras-(?:dl|extract)-[A-Za-z0-9]{6}(?:\.old)?$/;

/**
 * Removes work directories left in `dir` by a killed pull, when nothing in them (bounded walk)
 * was modified for `minAgeMs`. Symlinks are never followed. Best effort: errors are ignored.
 */
async function removeStaleWorkDirs(dir: string, minAgeMs: number): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names.filter((n) => WORK_DIR_RE.test(n))) {
    const abs = path.join(dir, name);
    try {
      const st = await lstat(abs);
      if (!st.isDirectory()) continue;
      let newest = st.mtimeMs;
      const entries = await readdir(abs, { recursive: true });
      if (entries.length > 100_000) continue;
      for (const e of entries) newest = Math.max(newest, (await lstat(path.join(abs, String(e)))).mtimeMs);
      if (now - newest >= minAgeMs) await rm(abs, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

/** Layer selection options shared by {@link planPull} and {@link pullArtifact}. */
export interface PullSelectOptions {
  /** Only layers with one of these media types (default: all). */
  allowedMediaTypes?: string[];
  /** Also write layers without a title, named `<algorithm>-<hex>` (default `false`: skipped, like oras). */
  includeUntitled?: boolean;
  /** Globs (picomatch, dot files match) over titles; when non-empty a layer must match one. */
  include?: string[];
  /** Globs over titles; a matching layer is skipped. */
  exclude?: string[];
  /** Let titles escape the output directory (oras `--allow-path-traversal`). Tar entries stay confined regardless. Default `false`. */
  allowPathTraversal?: boolean;
  /**
   * Allow writing into version-control metadata (`.git/`, `.hg/`, `.svn/`,
   * `.bzr/`, `_darcs/`, `.jj/`, `.pijul/`, `CVS/`, any case) through a title
   * or a tar entry (CLI `--allow-vcs-paths`). Default `false`: refused with
   * `ERR_ORAS_PATH_TRAVERSAL` (a hooks directory runs code on the next commit).
   */
  allowVcsPaths?: boolean;
}

const VCS_HINT =
  'the artifact writes into version-control metadata (e.g. .git/hooks runs code on your next commit); if you really want that, pass --allow-vcs-paths (allowVcsPaths)';

/** Where one layer lands. */
export interface PlannedLayer {
  layer: Descriptor;
  /** Index in `manifest.layers`. */
  index: number;
  /** The title (or `<alg>-<hex>` for untitled layers). */
  title: string;
  /** Absolute destination path. */
  path: string;
  /** Destination relative to `outDir`, POSIX (starts with `../` only with allowPathTraversal). */
  relativePath: string;
  /** Directory tarball to extract (`io.deis.oras.content.unpack: "true"`). */
  unpack: boolean;
}

/** A selected layer as offered to {@link PlanPullOptions.filter}. */
export interface PullCandidate {
  layer: Descriptor;
  title: string;
  /** Destination relative to `outDir`, POSIX (as in {@link PlannedLayer.relativePath}). */
  relativePath: string;
  unpack: boolean;
}

/** Options of {@link planPull}. */
export interface PlanPullOptions extends PullSelectOptions {
  /** The output directory titles are resolved against. */
  outDir: string;
  /**
   * Extra selection, applied after media type, title and include/exclude
   * checks and after the title was resolved safely (so an unsafe title is
   * refused even when the filter would drop it); `false` skips the layer
   * with reason `excluded`. Default: keep all.
   */
  filter?: (candidate: PullCandidate) => boolean;
}

/** Result of {@link planPull}: selected layers in manifest order, and the ones left out. */
export interface PullPlan {
  layers: PlannedLayer[];
  skipped: SkippedLayer[];
}

/** A layer {@link planPull} left out, and why. */
export interface SkippedLayer {
  layer: Descriptor;
  index: number;
  reason: 'untitled' | 'media-type' | 'excluded';
}

/**
 * Pure planning of a pull: which layers are selected and where they land
 * under `outDir`. Titles go through {@link resolveInside} (refusing `..`,
 * absolute, drive-letter, backslash, NUL and empty titles unless
 * `allowPathTraversal`); two selected layers writing the same path, or one
 * inside another (a directory layer `a` and a file `a/b`), are refused with
 * `ERR_ORAS_PATH_TRAVERSAL`. Does not touch the file system.
 */
export function planPull(manifest: ImageManifest, options: PlanPullOptions): PullPlan {
  const outDir = path.resolve(options.outDir);
  const include = options.include?.length ? picomatch(options.include, { dot: true }) : undefined;
  const exclude = options.exclude?.length ? picomatch(options.exclude, { dot: true }) : undefined;
  const layers: PlannedLayer[] = [];
  const skipped: SkippedLayer[] = [];
  manifest.layers.forEach((layer, index) => {
    if (options.allowedMediaTypes !== undefined && !options.allowedMediaTypes.includes(layer.mediaType)) {
      skipped.push({ layer, index, reason: 'media-type' });
      return;
    }
    let title = layer.annotations?.[Annotation.Title];
    if (title === undefined || title === '') {
      if (!options.includeUntitled) {
        skipped.push({ layer, index, reason: 'untitled' });
        return;
      }
      title = digestPath(layer.digest).replace('/', '-');
    }
    if ((include && !include(title)) || exclude?.(title)) {
      skipped.push({ layer, index, reason: 'excluded' });
      return;
    }
    const abs = resolveInside(outDir, title, options.allowPathTraversal ? { allowTraversal: true } : {});
    const planned: PlannedLayer = {
      layer,
      index,
      title,
      path: abs,
      relativePath: path.relative(outDir, abs).split(path.sep).join('/'),
      unpack: layer.annotations?.[Annotation.ContentUnpack] === 'true',
    };
    if (options.allowVcsPaths !== true && planned.relativePath.split('/').some(isVcsSegment)) {
      throw new OrasError(
        'ERR_ORAS_PATH_TRAVERSAL',
        `refusing layer ${index} (${JSON.stringify(title.slice(0, 200))}): it writes into version-control metadata`,
        { hint: VCS_HINT },
      );
    }
    if (
      options.filter &&
      !options.filter({ layer, title, relativePath: planned.relativePath, unpack: planned.unpack })
    ) {
      skipped.push({ layer, index, reason: 'excluded' });
      return;
    }
    layers.push(planned);
  });
  const sorted = [...layers].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as PlannedLayer;
    const cur = sorted[i] as PlannedLayer;
    if (isInside(prev.path, cur.path)) {
      throw new OrasError(
        'ERR_ORAS_PATH_TRAVERSAL',
        `layers ${prev.index} (${JSON.stringify(prev.title)}) and ${cur.index} (${JSON.stringify(cur.title)}) write the same path`,
        {
          hint: 'the artifact has duplicate or nested titles; select one of them with include/exclude',
        },
      );
    }
  }
  return { layers, skipped };
}

/** Options for {@link pullArtifact}. */
export interface PullArtifactOptions extends PullSelectOptions, CallOptions {
  /** Do not overwrite existing paths; skip them with a `skip` event (oras `-k`). Default `false`. */
  keepOldFiles?: boolean;
  /** Parallel layer downloads. Default 3. */
  concurrency?: number;
  /** Also pull the manifest's `subject`, its subject, … (the whole chain, up to 32 levels; it stops at an index) into the same directory. */
  includeSubject?: boolean;
  /** Caps for unpacked directories (see `extractTarGz` in tar.ts). */
  maxEntries?: number;
  maxUncompressedBytes?: number;
  /** Largest declared size of the selected layers, together and each (default 64 GiB, see `checkDownloadSize`). Checked with the free space before anything is written. */
  maxArtifactBytes?: number;
  onEvent?: TransferListener;
}

/** A file or directory written by {@link pullArtifact}. */
export interface PulledFile {
  /** Path relative to `outDir`, POSIX (may start with `../` only with allowPathTraversal). */
  path: string;
  digest: string;
  size: number;
  mediaType: string;
  /** Index of the layer in its manifest. */
  layer: number;
  /** True for an unpacked directory. */
  directory: boolean;
}

/** Result of {@link pullArtifact}. */
export interface PullArtifactResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  files: PulledFile[];
  /** Paths left alone because they existed (`keepOldFiles`). */
  kept: string[];
  skipped: SkippedLayer[];
  /** The subject's result when `includeSubject` was set and there is one. */
  subject?: PullArtifactResult;
}

/**
 * The manifest `ref` names. A target that fetches by reference (a registry
 * `Repository`, like oras-go's `ReferenceFetcher`) answers with one GET, the
 * digest computed from the verified bytes; any other target is asked to
 * resolve, then to fetch by digest (verified, ≤ 4 MiB). One request fewer
 * per pull: a round trip, and on registries that close the connection after
 * a HEAD (distribution does), a connection.
 */
async function rootManifest(
  src: ReadOnlyTarget,
  ref: string,
  call: CallOptions,
): Promise<{ descriptor: Descriptor; parsed: ParsedManifest }> {
  if (hasFetchManifest(src)) {
    const m = await src.fetchManifest(ref, call);
    return { descriptor: m.descriptor, parsed: m.parsed };
  }
  const descriptor = await src.resolve(ref, call);
  return {
    descriptor,
    parsed: parseManifest(await fetchAll(src, descriptor, MAX_MANIFEST_BYTES, call), descriptor.mediaType),
  };
}

/**
 * Pulls an artifact into `outDir` like `oras pull`: resolves `ref`, fetches
 * and validates the manifest (≤ 4 MiB), plans with {@link planPull}, then
 * writes each selected layer (`concurrency` in parallel): files are streamed
 * through digest+size verification into a temp file next to the target and
 * renamed into place only when verified; directory layers are downloaded and
 * verified completely to a temp file first, then extracted with
 * `extractTarGz` (tar.ts, checking `io.deis.oras.content.digest`) and renamed
 * into place. Every target is checked for symlink escapes first (directory
 * checks cached for the pull, see {@link SymlinkEscapeGuard}); each directory
 * renamed into is fsynced once before this resolves. On failure
 * of a layer no partial file or temp file remains (already completed layers
 * stay); temp files left by an interrupted (killed) earlier pull are removed
 * from the directories written to once stale (10 minutes untouched). Index manifests are refused with `ERR_ORAS_UNSUPPORTED`.
 */
export async function pullArtifact(
  src: ReadOnlyTarget,
  ref: string,
  outDir: string,
  options: PullArtifactOptions = {},
): Promise<PullArtifactResult> {
  const call = options.signal ? { signal: options.signal } : {};
  const emit: TransferListener = (e) => options.onEvent?.(e);
  const { descriptor, parsed } = await rootManifest(src, ref, call);
  if (parsed.kind !== 'manifest') {
    throw new OrasError('ERR_ORAS_UNSUPPORTED', `${ref} is an index, not an artifact manifest`, {
      hint: 'pull one of its manifests by digest',
    });
  }
  const manifest = parsed.manifest;
  const root = path.resolve(outDir);
  const plan = planPull(manifest, { ...options, outDir: root });
  await checkDownloadSize(
    plan.layers.map((p) => p.layer),
    root,
    options.maxArtifactBytes !== undefined ? { maxArtifactBytes: options.maxArtifactBytes } : {},
  );
  await mkdir(root, { recursive: true }).catch((err: unknown) => {
    throw ioError(err, 'creating', root);
  });
  const files: PulledFile[] = [];
  const kept: string[] = [];
  // Temp files of an interrupted earlier pull (SIGKILL) are removed from the directories we
  // write to, once they are stale: a live writer touches its temp file with every chunk and
  // would hit the idle timeout long before this age.
  const cleaned = new Map<string, Promise<unknown>>();
  const cleanStaleTemps = (dir: string): Promise<unknown> => {
    let p = cleaned.get(dir);
    if (p === undefined) {
      p = Promise.all([
        removeTempFiles(dir, { minAgeMs: STALE_TEMP_MS }).catch(() => 0),
        removeStaleWorkDirs(dir, STALE_TEMP_MS),
      ]);
      cleaned.set(dir, p);
    }
    return p;
  };
  // One guard and one directory-fsync batch per pull: directories are checked for symlink
  // escapes and created once, and each directory a file was renamed into is fsynced once at
  // the end (every file is fsynced before its rename, so a crash before that can lose a
  // rename but never expose a partial file; the pull only resolves after the batch flush).
  const guard = new SymlinkEscapeGuard(root);
  const dirSync = new DirSyncBatch();
  const made = new Map<string, Promise<void>>();
  const ensureDir = (dir: string): Promise<void> => {
    let p = made.get(dir);
    if (p === undefined) {
      p = mkdir(dir, { recursive: true }).then(
        () => undefined,
        (err: unknown) => {
          made.delete(dir);
          throw ioError(err, 'creating the parent directory of', dir);
        },
      );
      made.set(dir, p);
    }
    return p;
  };
  try {
    await runAll(plan.layers, options.concurrency ?? 3, options.signal, async (p, signal) => {
      const call = { signal };
      const layer = p.layer;
      const dir = path.dirname(p.path);
      // Before mkdir (never create directories through an escaping link), after it (what
      // mkdir found or made), and the target itself.
      await guard.check(p.path, { dirOnly: true });
      await ensureDir(dir);
      const present = await guard.check(p.path);
      if (options.keepOldFiles && present) {
        kept.push(p.title);
        emit({ type: 'skip', descriptor: layer, reason: 'exists' });
        return;
      }
      await cleanStaleTemps(dir);
      emit({ type: 'start', descriptor: layer });
      const onProgress = (bytes: number): void => emit({ type: 'progress', descriptor: layer, bytes });
      // The guard's directory checks are cached for the pull: re-verify (uncached) right before
      // the write and again right before the rename, so a parent swapped for a symlink meanwhile
      // cannot redirect the file outside (see assertParentStillInside for the residual window).
      const recheck = (): Promise<void> => assertParentStillInside(root, p.path);
      try {
        await recheck();
        if (p.unpack) await pullDirectory(src, p, { ...options, signal }, onProgress, recheck);
        else
          await streamToFileAtomic(p.path, await src.fetch(layer, call), {
            expected: layer,
            onProgress,
            dirSync,
            beforeRename: recheck,
            ...call,
          });
      } catch (error) {
        emit({ type: 'error', descriptor: layer, error });
        throw error;
      }
      emit({ type: 'done', descriptor: layer });
      files.push({
        path: p.relativePath,
        digest: layer.digest,
        size: layer.size,
        mediaType: layer.mediaType,
        layer: p.index,
        directory: p.unpack,
      });
    });
  } finally {
    // Also on failure: the files already renamed into place stay, and should be durable.
    await dirSync.flush();
  }
  files.sort((a, b) => a.layer - b.layer);
  const result: PullArtifactResult = { descriptor, manifest, files, kept, skipped: plan.skipped };
  if (options.includeSubject && manifest.subject !== undefined) {
    const subject = await pullSubjectChain(src, manifest.subject, root, options, [descriptor.digest]);
    if (subject !== undefined) result.subject = subject;
  }
  return result;
}

/** Deepest subject chain {@link pullArtifact} follows with `includeSubject` (the referrer's subject is level 1). */
const MAX_SUBJECT_DEPTH = 32;

/**
 * Pulls `subject`, then its subject, … (as oras 1.3 `pull --include-subject`,
 * which follows `subject` like any successor) into `root`. `chain` holds the
 * digests already pulled on this path. The chain stops at an index subject
 * (it has no files of its own); longer than {@link MAX_SUBJECT_DEPTH} is
 * `ERR_ORAS_LIMIT_EXCEEDED`.
 */
async function pullSubjectChain(
  src: ReadOnlyTarget,
  subject: Descriptor,
  root: string,
  options: PullArtifactOptions,
  chain: string[],
): Promise<PullArtifactResult | undefined> {
  if (isIndexMediaType(subject.mediaType)) return undefined;
  if (chain.length > MAX_SUBJECT_DEPTH || chain.includes(subject.digest))
    throw new OrasError(
      'ERR_ORAS_LIMIT_EXCEEDED',
      `subject chain of ${chain[0] ?? ''} is longer than ${MAX_SUBJECT_DEPTH}`,
      {
        hint: 'pull the artifacts of the chain one by one, without --include-subject',
      },
    );
  const result = await pullArtifact(src, subject.digest, root, { ...options, includeSubject: false });
  const next = result.manifest.subject;
  if (next !== undefined) {
    const pulled = await pullSubjectChain(src, next, root, options, [...chain, subject.digest]);
    if (pulled !== undefined) result.subject = pulled;
  }
  return result;
}

/** Downloads a directory layer to a verified temp file, then extracts it into place. */
async function pullDirectory(
  src: ReadOnlyTarget,
  p: PlannedLayer,
  options: PullArtifactOptions,
  onProgress: (bytes: number) => void,
  recheck: () => Promise<void>,
): Promise<void> {
  const call = options.signal ? { signal: options.signal } : {};
  const layer = p.layer;
  const expected = layer.annotations?.[Annotation.ContentDigest];
  if (expected !== undefined && !isDigest(expected)) {
    throw new OrasError(
      'ERR_ORAS_INVALID_MANIFEST',
      `layer ${p.index} has an invalid ${Annotation.ContentDigest} annotation`,
      { hint: 'the artifact is malformed; it was not produced by a conforming client' },
    );
  }
  const tmp = await mkdtemp(path.join(path.dirname(p.path), `.${path.basename(p.path)}.oras-dl-`)).catch(
    (err: unknown) => {
      throw ioError(err, 'creating a download directory next to', p.path);
    },
  );
  try {
    const blob = path.join(tmp, 'layer.tar.gz');
    const tree = path.join(tmp, 'tree');
    await streamToFileAtomic(blob, await src.fetch(layer, call), { expected: layer, onProgress, mode: 0o600, ...call });
    // Loaded on first use: tar.js brings tar-stream (~16 ms of start-up), which files-only pulls never need.
    const { extractTarGz } = await import('./tar.js');
    await extractTarGz(createReadStream(blob), tree, {
      stripPrefix: p.title,
      ...(expected !== undefined ? { expectedUncompressedDigest: expected } : {}),
      ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
      ...(options.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: options.maxUncompressedBytes } : {}),
      replaceExisting: false,
      ...call,
    });
    if (options.allowVcsPaths !== true) {
      const vcs = await findVcsPath(tree);
      if (vcs !== undefined)
        throw new OrasError(
          'ERR_ORAS_PATH_TRAVERSAL',
          `refusing layer ${p.index} (${JSON.stringify(p.title.slice(0, 200))}): its entry ${JSON.stringify(`${p.title}/${vcs}`.slice(0, 200))} is version-control metadata`,
          { hint: VCS_HINT },
        );
    }
    // Never deletes: an existing directory is merged into file by file (or refused on a kind change).
    await recheck();
    await placeTree(tree, p.path, p.title);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
