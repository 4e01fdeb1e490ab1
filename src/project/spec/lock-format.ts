import { posix } from 'node:path';
import { joinRelative } from '../../artifact/safe-path.js';
import type { LockedDependency, LockedFile, LockedLayer, Lockfile } from '../types.js';

/**
 * Lockfile v2 layout of a dependency's files, and its conversion to and from
 * the flat in-memory {@link LockedFile} list.
 *
 * v1 listed every installed file with its path relative to the project root
 * and the digest of the layer it came from, so a directory layer of 2,000
 * files repeated its layer digest 2,000 times and a changed layer rewrote
 * every line. v2 groups files under their layer:
 *
 *     layers:
 *       - digest: sha256:…          # a plain layer: the layer blob is the file
 *         size: 1234
 *         mediaType: application/vnd.oci.image.layer.v1.tar
 *         path: model.bin           # relative to the dependency's path
 *       - digest: sha256:…          # an unpacked directory layer
 *         size: 56789
 *         mediaType: application/vnd.oci.image.layer.v1.tar+gzip
 *         path: schemas
 *         listing: sha256:…         # digest of the verified listing of the whole layer
 *         files:
 *           - { path: v1/a.json, size: 129, digest: sha256:… }
 *
 * so changing one file of a directory layer changes the layer's digest,
 * size and listing lines and that file's line (O(1) lines). The in-memory
 * form stays flat (`LockedDependency.files`), so diff, reify and verify do
 * not see the grouping.
 */

/** One file of an unpacked layer as written in a v2 lock (path relative to the layer root). */
export interface LayerFileV2 {
  path: string;
  size: number;
  digest: string;
  mode?: number;
}

/** One layer as written in a v2 lock (`files` present iff it is an unpacked directory layer). */
export interface LockedLayerV2 {
  digest: string;
  size?: number;
  mediaType?: string;
  /** Absent only for an unpacked layer whose files lie directly below the dependency's path. */
  path?: string;
  listing?: string;
  files?: LayerFileV2[];
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The dependency's install directory as a POSIX path without a trailing slash. */
export function dependencyRoot(specPath: string): string {
  return posix.normalize(specPath).replace(/\/+$/, '');
}

/** `path` relative to `root` when it lies strictly below it, else undefined. */
function below(path: string, root: string): string | undefined {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

/** The longest common directory of relative POSIX paths' parents ('' when none). */
function commonDir(paths: string[]): string {
  let common: string[] | undefined;
  for (const p of paths) {
    const parts = p.split('/').slice(0, -1);
    if (common === undefined) common = parts;
    else {
      let i = 0;
      while (i < common.length && i < parts.length && common[i] === parts[i]) i++;
      common = common.slice(0, i);
    }
  }
  return (common ?? []).join('/');
}

/**
 * Groups a dependency's flat files under their layers for writing (PURE).
 * With `dep.layers` (recorded by the install engine) the groups follow it;
 * files it does not account for (and entries read from a v1 lock, which have
 * no layer records) are grouped by layer digest, a plain file being its own
 * layer and an unpacked layer rooted at its files' common directory. Either
 * way, {@link flattenLayers} gives back exactly `dep.files`.
 */
export function groupFiles(dep: LockedDependency): LockedLayerV2[] {
  const depRoot = dependencyRoot(dep.specifier.path);
  // Files not yet grouped, in dep.files order: taken[i] marks dep.files[i] (no set to delete from).
  const all = dep.files;
  const taken = new Uint8Array(all.length);
  const out: LockedLayerV2[] = [];
  const rel = (p: string): string => below(p, depRoot) ?? posix.relative(depRoot, p);
  for (const l of dep.layers ?? []) {
    const root = l.path === '.' ? depRoot : posix.join(depRoot, l.path);
    if (l.unpacked === true) {
      const files: LayerFileV2[] = [];
      const prefix = `${root}/`;
      for (let i = 0; i < all.length; i++) {
        const f = all[i]!;
        if (taken[i] === 1 || f.layer !== l.digest || !f.path.startsWith(prefix)) continue;
        files.push(layerFile(f, f.path.slice(prefix.length)));
        taken[i] = 1;
      }
      if (files.length > 0) out.push(layerEntry(l, files));
    } else {
      const i = all.findIndex(
        (x, j) =>
          taken[j] === 0 && x.layer === l.digest && x.digest === l.digest && x.path === root && x.mode === undefined,
      );
      if (i < 0) continue;
      taken[i] = 1;
      out.push(layerEntry({ ...l, size: all[i]!.size }));
    }
  }
  const byLayer = new Map<string, LockedFile[]>();
  const inferred: LockedLayerV2[] = [];
  for (const [i, f] of all.entries()) {
    if (taken[i] === 1) continue;
    if (f.digest === f.layer && f.mode === undefined)
      inferred.push({ digest: f.digest, size: f.size, path: rel(f.path) });
    else {
      const group = byLayer.get(f.layer);
      if (group === undefined) byLayer.set(f.layer, [f]);
      else group.push(f);
    }
  }
  for (const [digest, files] of byLayer) {
    const dir = commonDir(files.map((f) => rel(f.path)));
    const root = dir === '' ? depRoot : posix.join(depRoot, dir);
    inferred.push({
      digest,
      ...(dir === '' ? {} : { path: dir }),
      files: files.map((f) => layerFile(f, below(f.path, root) ?? f.path)),
    });
  }
  inferred.sort((a, b) => byString(a.path ?? '', b.path ?? '') || byString(a.digest, b.digest));
  out.push(...inferred);
  for (const l of out)
    if (l.files !== undefined && !sortedByPath(l.files)) l.files.sort((a, b) => byString(a.path, b.path));
  return out;
}

/** True when `files` is in ascending path order already (the usual case: dep.files is sorted). */
function sortedByPath(files: readonly LayerFileV2[]): boolean {
  for (let i = 1; i < files.length; i++) if (!(files[i - 1]!.path <= files[i]!.path)) return false;
  return true;
}

function layerFile(f: LockedFile, inner: string): LayerFileV2 {
  return f.mode !== undefined
    ? { path: inner, size: f.size, digest: f.digest, mode: f.mode }
    : { path: inner, size: f.size, digest: f.digest };
}

/** A layer record as a v2 lock writes it: `path` left out when `.`, `files` only for an unpacked layer. */
export function layerEntry(l: LockedLayer, files?: LayerFileV2[]): LockedLayerV2 {
  return {
    digest: l.digest,
    ...(l.size !== undefined ? { size: l.size } : {}),
    ...(l.mediaType !== undefined ? { mediaType: l.mediaType } : {}),
    ...(l.path !== '.' ? { path: l.path } : {}),
    ...(l.listing !== undefined ? { listing: l.listing } : {}),
    ...(files !== undefined ? { files } : {}),
  };
}

/**
 * The flat files and layer records of a v2 dependency entry (PURE, the
 * inverse of {@link groupFiles}); files sorted by path. The entry must have
 * been validated (a plain layer has a size).
 */
export function flattenLayers(
  specPath: string,
  layers: LockedLayerV2[],
): { files: LockedFile[]; layers: LockedLayer[] } {
  const depRoot = dependencyRoot(specPath);
  const files: LockedFile[] = [];
  const records: LockedLayer[] = [];
  for (const l of layers) {
    const root = posix.normalize(posix.join(depRoot, l.path ?? '.'));
    records.push({
      digest: l.digest,
      ...(l.size !== undefined ? { size: l.size } : {}),
      ...(l.mediaType !== undefined ? { mediaType: l.mediaType } : {}),
      path: l.path ?? '.',
      ...(l.files !== undefined ? { unpacked: true } : {}),
      ...(l.listing !== undefined ? { listing: l.listing } : {}),
    });
    if (l.files === undefined) {
      files.push({ path: root, digest: l.digest, size: l.size ?? -1, layer: l.digest });
      continue;
    }
    for (const f of l.files) {
      files.push({
        path: joinRelative(root, f.path),
        digest: f.digest,
        size: f.size,
        layer: l.digest,
        ...(f.mode !== undefined ? { mode: f.mode } : {}),
      });
    }
  }
  files.sort((a, b) => byString(a.path, b.path));
  return { files, layers: records };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The in-memory lock of a lock document that passed validation (or whose
 * bytes a completed install validated): v2 entries flattened (`lock-format.ts`),
 * v1 entries as they are. Does not validate.
 */
export function lockFromDocument(doc: Record<string, unknown>): Lockfile {
  const version = doc.lockfileVersion === 1 ? 1 : 2;
  const deps = (isRecord(doc.dependencies) ? doc.dependencies : {}) as Record<string, Record<string, unknown>>;
  const dependencies: Lockfile['dependencies'] = {};
  for (const [name, raw] of Object.entries(deps)) {
    if (version === 1) {
      dependencies[name] = raw as unknown as LockedDependency;
      continue;
    }
    const { layers, ...rest } = raw as unknown as Omit<LockedDependency, 'files' | 'layers'> & {
      layers: LockedLayerV2[];
    };
    const flat = flattenLayers(rest.specifier.path, layers);
    dependencies[name] = { ...rest, files: flat.files, layers: flat.layers };
  }
  return { lockfileVersion: version, dependencies, publish: (doc.publish ?? {}) as Lockfile['publish'] };
}
