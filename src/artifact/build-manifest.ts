import { OrasError } from '../errors.js';
import { EMPTY_DESCRIPTOR, type Descriptor, type ImageManifest } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import { encodeManifest } from '../oci/manifest.js';
import { Annotation, MediaType } from '../oci/media-types.js';

/** Which image-spec shape {@link buildManifest} produces. */
export type ImageSpecVersion = 'v1.1' | 'v1.0';

/** Input of {@link buildManifest}: descriptors of already-known content. */
export interface BuildManifestInput {
  /** Default `'v1.1'`. */
  imageSpec?: ImageSpecVersion;
  /** v1.1: the `artifactType` field; v1.0: the config media type when no `config`. */
  artifactType?: string;
  /** The config descriptor; default: the empty descriptor (v1.1) or `{}` typed as `artifactType`/unknown config (v1.0). */
  config?: Descriptor;
  /** Layers in order. */
  layers: Descriptor[];
  subject?: Descriptor;
  /** Manifest annotations (keys are emitted sorted). */
  annotations?: Record<string, string>;
  /** When set and not already in `annotations`, added as `org.opencontainers.image.created`. */
  created?: string;
}

/** A built manifest: the document, its exact bytes and its descriptor. */
export interface BuiltManifest {
  manifest: ImageManifest;
  bytes: Buffer;
  descriptor: Descriptor;
  /** The config descriptor used (possibly a default one) and the bytes of a default config, when one was generated. */
  config: Descriptor;
  defaultConfigBytes?: Buffer;
}

/** Returns a copy of `record` with keys in byte order (Go's encoding/json order), or undefined when empty. */
export function sortedRecord(record: Record<string, string> | undefined): Record<string, string> | undefined {
  if (record === undefined) return undefined;
  const keys = Object.keys(record).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = record[k] as string;
  return out;
}

/** Re-creates a descriptor with oras-go's field order (mediaType, digest, size, urls, annotations, data, platform, artifactType). */
export function canonicalDescriptor(d: Descriptor): Descriptor {
  const annotations = sortedRecord(d.annotations);
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls !== undefined ? { urls: d.urls } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(d.data !== undefined ? { data: d.data } : {}),
    ...(d.platform !== undefined ? { platform: d.platform } : {}),
    ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
  };
}

/**
 * Assembles an OCI image manifest like the Go oras CLI (oras-go `PackManifest`),
 * deterministically: field order schemaVersion, mediaType, artifactType,
 * config, layers, subject, annotations; annotation keys sorted; no
 * `created` annotation unless `created` is given.
 *
 * - v1.1: `artifactType` defaults to `application/vnd.unknown.artifact.v1`
 *   when no config is given (it is required then); the config defaults to the
 *   empty descriptor; no layers → one empty-descriptor layer.
 * - v1.0: no `artifactType` field; the config defaults to the bytes `{}`
 *   with media type `artifactType` or `application/vnd.unknown.config.v1+json`
 *   (`defaultConfigBytes` is set so the caller pushes it); giving both a
 *   config and an artifactType is refused (`ERR_ORAS_USAGE`); layers may be empty.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md#guidelines-for-artifact-usage
 */
export function buildManifest(input: BuildManifestInput): BuiltManifest {
  const spec = input.imageSpec ?? 'v1.1';
  let config: Descriptor;
  let defaultConfigBytes: Buffer | undefined;
  let artifactType: string | undefined;
  let layers = input.layers.map(canonicalDescriptor);
  if (spec === 'v1.1') {
    artifactType = input.artifactType;
    if (input.config === undefined) {
      artifactType ??= MediaType.UnknownArtifact;
      config = { ...EMPTY_DESCRIPTOR };
      defaultConfigBytes = Buffer.from('{}');
    } else config = canonicalDescriptor(input.config);
    if (layers.length === 0) layers = [{ ...EMPTY_DESCRIPTOR }];
  } else if (spec === 'v1.0') {
    if (input.config !== undefined) {
      if (input.artifactType !== undefined) {
        throw new OrasError('ERR_ORAS_USAGE', 'artifactType cannot be combined with a config for image-spec v1.0', {
          hint: 'in v1.0 the artifact type is the config media type: drop artifactType, or use image-spec v1.1',
        });
      }
      config = canonicalDescriptor(input.config);
    } else {
      defaultConfigBytes = Buffer.from('{}');
      config = {
        mediaType: input.artifactType ?? MediaType.UnknownConfig,
        digest: digestOf(defaultConfigBytes),
        size: 2,
      };
    }
  } else {
    throw new OrasError('ERR_ORAS_USAGE', `unknown image-spec version ${JSON.stringify(spec)}`, {
      hint: "use 'v1.1' or 'v1.0'",
    });
  }
  const annotations: Record<string, string> = { ...(input.annotations ?? {}) };
  if (input.created !== undefined && annotations[Annotation.Created] === undefined)
    annotations[Annotation.Created] = input.created;
  const sorted = sortedRecord(annotations);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    ...(artifactType !== undefined ? { artifactType } : {}),
    config,
    layers,
    ...(input.subject !== undefined ? { subject: canonicalDescriptor(input.subject) } : {}),
    ...(sorted !== undefined ? { annotations: sorted } : {}),
  };
  const bytes = encodeManifest(manifest);
  const descriptor: Descriptor = {
    mediaType: MediaType.ImageManifest,
    digest: digestOf(bytes),
    size: bytes.length,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(sorted !== undefined ? { annotations: sorted } : {}),
  };
  return { manifest, bytes, descriptor, config, ...(defaultConfigBytes !== undefined ? { defaultConfigBytes } : {}) };
}
