import { OrasError } from '../errors.js';
import { validateDescriptor, type Descriptor, type ImageIndex, type ImageManifest } from './descriptor.js';
import { isIndexMediaType, MediaType } from './media-types.js';

/**
 * Largest manifest or index we read (4 MiB, as distribution and containerd do).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A parsed manifest document, tagged by kind. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

function invalid(message: string, hint = 'the document is not a valid OCI/Docker manifest'): never {
  throw new OrasError('ERR_ORAS_INVALID_MANIFEST', message, { hint });
}

/**
 * Parses and validates manifest bytes.
 *
 * - `declaredMediaType` is the media type the document was fetched as (the
 *   descriptor's, or the response `Content-Type`). When the document carries a
 *   `mediaType` field that disagrees, it is rejected (`ERR_ORAS_MEDIA_TYPE_MISMATCH`).
 * - Documents that have both `manifests` and `layers`/`config` are rejected as
 *   ambiguous (CVE-2021-41190).
 * - Every embedded descriptor is validated (strict digests).
 */
export function parseManifest(bytes: Uint8Array, declaredMediaType?: string): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new OrasError(
      'ERR_ORAS_MANIFEST_TOO_LARGE',
      `manifest is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new OrasError('ERR_ORAS_INVALID_MANIFEST', 'manifest is not valid JSON', { cause });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) invalid('manifest is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.schemaVersion !== 2) invalid(`manifest schemaVersion must be 2, got ${JSON.stringify(d.schemaVersion)}`);
  const docType = typeof d.mediaType === 'string' ? d.mediaType : undefined;
  if (d.mediaType !== undefined && docType === undefined) invalid('manifest mediaType must be a string');
  const declared = declaredMediaType?.split(';')[0]?.trim();
  if (docType !== undefined && declared && declared !== docType && declared !== MediaType.OctetStream) {
    throw new OrasError(
      'ERR_ORAS_MEDIA_TYPE_MISMATCH',
      `manifest mediaType ${docType} does not match the declared ${declared}`,
      {
        hint: 'the registry served a document whose type disagrees with its Content-Type or descriptor; refusing it',
      },
    );
  }
  const hasManifests = 'manifests' in d;
  const hasImageFields = 'layers' in d || 'config' in d;
  if (hasManifests && hasImageFields)
    invalid('ambiguous document: has both manifests and layers/config (CVE-2021-41190)');
  const mediaType =
    docType ??
    (declared && declared !== MediaType.OctetStream
      ? declared
      : hasManifests
        ? MediaType.ImageIndex
        : MediaType.ImageManifest);
  if (hasManifests || isIndexMediaType(mediaType)) {
    if (!Array.isArray(d.manifests)) invalid('index manifests must be an array');
    if (hasImageFields) invalid('ambiguous document: index with layers/config');
    (d.manifests as unknown[]).forEach((m, i) => validateDescriptor(m, `manifests[${i}]`));
    if (d.subject !== undefined) validateDescriptor(d.subject, 'subject');
    return { kind: 'index', mediaType, index: d as unknown as ImageIndex };
  }
  validateDescriptor(d.config, 'config');
  if (!Array.isArray(d.layers)) invalid('manifest layers must be an array');
  (d.layers as unknown[]).forEach((l, i) => validateDescriptor(l, `layers[${i}]`));
  if (d.subject !== undefined) validateDescriptor(d.subject, 'subject');
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string')
    invalid('manifest artifactType must be a string');
  return { kind: 'manifest', mediaType, manifest: d as unknown as ImageManifest };
}

/** The direct children of a manifest document: config + layers, or the index entries. The `subject` is not a child. */
export function childrenOf(parsed: ParsedManifest): Descriptor[] {
  return parsed.kind === 'manifest' ? [parsed.manifest.config, ...parsed.manifest.layers] : [...parsed.index.manifests];
}

/** Serializes a manifest/index canonically (stable key order as given, no whitespace). */
export function encodeManifest(doc: ImageManifest | ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(doc));
}
