import { OrasError } from '../errors.js';
import { validateDescriptor, type Descriptor } from '../oci/descriptor.js';
import { Annotation, MediaType } from '../oci/media-types.js';

/**
 * The `index.json` document of an OCI image layout and the pure edits
 * {@link OciLayoutStore} applies to it (read-modify-write under its lock).
 * Semantics follow oras-go: a tag is an entry whose
 * `org.opencontainers.image.ref.name` annotation is the tag; one manifest may
 * have several tagged entries; a manifest without tags keeps one untagged
 * entry so it is not garbage.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md#indexjson-file
 */

/** The content of `index.json` (unknown top-level fields are preserved on rewrite). */
export interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

// OCI image-layout ref.name grammar: component ("/" component)*, component = alphanum (separator alphanum)*.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/annotations.md#pre-defined-annotation-keys
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** True for a valid OCI image-layout `org.opencontainers.image.ref.name` value (what `tag()` accepts), 1..1024 characters. */
export function isValidRefName(name: string): boolean {
  return name.length > 0 && name.length <= 1024 && REF_NAME_RE.test(name);
}

/** A new, empty layout index (with the OCI index media type, like oras-go). */
export function emptyLayoutIndex(): LayoutIndex {
  return { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
}

/** The ref.name annotation of an entry, if any. */
export function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[Annotation.RefName];
}

/** The descriptor without `data` and without the ref.name annotation (dropping empty annotations). */
export function plainEntry(d: Descriptor): Descriptor {
  const { data: _data, annotations, ...rest } = d;
  if (annotations === undefined) return { ...rest };
  const { [Annotation.RefName]: _ref, ...others } = annotations;
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : { ...rest };
}

function withRefName(d: Descriptor, name: string): Descriptor {
  const p = plainEntry(d);
  return { ...p, annotations: { ...p.annotations, [Annotation.RefName]: name } };
}

/**
 * Parses and validates `index.json` bytes (schemaVersion 2, a manifests array
 * of valid descriptors). `ERR_ORAS_INVALID_MANIFEST` / `ERR_ORAS_INVALID_DIGEST` otherwise.
 */
export function parseLayoutIndex(bytes: Uint8Array, path: string): LayoutIndex {
  const corrupted = { hint: 'the OCI layout is corrupted; restore index.json' };
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new OrasError('ERR_ORAS_INVALID_MANIFEST', `${path} is not valid JSON`, { cause, ...corrupted });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new OrasError('ERR_ORAS_INVALID_MANIFEST', `${path} is not a JSON object`, corrupted);
  }
  const d = doc as Record<string, unknown>;
  if (d.schemaVersion !== 2 || !Array.isArray(d.manifests)) {
    throw new OrasError(
      'ERR_ORAS_INVALID_MANIFEST',
      `${path} must have schemaVersion 2 and a manifests array`,
      corrupted,
    );
  }
  d.manifests.forEach((m, i) => validateDescriptor(m, `index.json manifests[${i}]`));
  return d as unknown as LayoutIndex;
}

/**
 * The entry of each digest in `index`, the first one when several share it (the one
 * `OciLayoutStore.resolve` finds for that digest): for callers that look up many digests in one
 * read of the index.
 */
export function entriesByDigest(index: LayoutIndex): Map<string, Descriptor> {
  const entries = new Map<string, Descriptor>();
  for (const m of index.manifests) if (!entries.has(m.digest)) entries.set(m.digest, m);
  return entries;
}

/** Records `desc` untagged unless some entry already has its digest. Returns true when changed. */
export function recordManifest(index: LayoutIndex, desc: Descriptor): boolean {
  if (index.manifests.some((m) => m.digest === desc.digest)) return false;
  index.manifests.push(plainEntry(desc));
  return true;
}

/**
 * Points tag `name` at `desc`: removes entries tagged `name` and the untagged
 * entry of `desc`, appends the tagged entry, and keeps an untagged entry for a
 * manifest that lost its last tag. Always returns true.
 */
export function tagManifest(index: LayoutIndex, desc: Descriptor, name: string): boolean {
  const moved = new Map<string, Descriptor>();
  const kept: Descriptor[] = [];
  for (const m of index.manifests) {
    const n = refNameOf(m);
    if (n === name) moved.set(m.digest, m);
    else if (!(n === undefined && m.digest === desc.digest)) kept.push(m);
  }
  kept.push(withRefName(desc, name));
  for (const [digest, old] of moved) if (!kept.some((m) => m.digest === digest)) kept.push(plainEntry(old));
  index.manifests = kept;
  return true;
}

/** Removes tag `name`, keeping an untagged entry for a manifest that lost its last tag. Returns false when the tag is absent. */
export function untagManifest(index: LayoutIndex, name: string): boolean {
  const removed = index.manifests.filter((m) => refNameOf(m) === name);
  if (removed.length === 0) return false;
  index.manifests = index.manifests.filter((m) => refNameOf(m) !== name);
  for (const r of removed) if (!index.manifests.some((m) => m.digest === r.digest)) index.manifests.push(plainEntry(r));
  return true;
}

/** Removes every entry for `digest`. Returns true when something was removed. */
export function removeEntries(index: LayoutIndex, digest: string): boolean {
  const before = index.manifests.length;
  index.manifests = index.manifests.filter((m) => m.digest !== digest);
  return index.manifests.length !== before;
}

/** The entry tagged `name` (the last one wins, like oras-go's loader), as a plain descriptor. */
export function findTagged(index: LayoutIndex, name: string): Descriptor | undefined {
  for (let i = index.manifests.length - 1; i >= 0; i--) {
    const m = index.manifests[i] as Descriptor;
    if (refNameOf(m) === name) return plainEntry(m);
  }
  return undefined;
}

/** Distinct tag names in code-point order. */
export function tagNames(index: LayoutIndex): string[] {
  const names = new Set<string>();
  for (const m of index.manifests) {
    const n = refNameOf(m);
    if (n !== undefined) names.add(n);
  }
  return [...names].sort();
}
