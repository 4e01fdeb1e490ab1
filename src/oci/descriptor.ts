import { OrasError } from '../errors.js';
import { parseDigest, type Digest } from './digest.js';
import { MediaType } from './media-types.js';

/**
 * An OCI content descriptor.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md#properties
 */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI platform object. */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/**
 * An OCI image manifest (image-spec v1.1).
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md#image-manifest-property-descriptions
 */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * An OCI image index (also used for the referrers response).
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md#image-index-property-descriptions
 */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * The OCI empty descriptor: the two-byte JSON `{}`.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md#guidance-for-an-empty-descriptor
 */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.Empty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
});

/** The bytes of the empty descriptor. */
export const EMPTY_JSON = Buffer.from('{}');

function fail(field: string, problem: string): never {
  throw new OrasError('ERR_ORAS_INVALID_MANIFEST', `invalid descriptor: ${field} ${problem}`, {
    hint: 'the manifest is malformed; it was not produced by a conforming client',
  });
}

/**
 * Validates an unknown value as a descriptor: string media type, strictly
 * valid digest, non-negative safe-integer size. Throws `ERR_ORAS_INVALID_MANIFEST`
 * (or `ERR_ORAS_INVALID_DIGEST`) naming `field`.
 */
export function validateDescriptor(value: unknown, field = 'descriptor'): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.mediaType !== 'string' || v.mediaType.length === 0 || v.mediaType.length > 255)
    fail(`${field}.mediaType`, 'must be a non-empty string');
  parseDigest(v.digest, `${field}.digest`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0)
    fail(`${field}.size`, 'must be a non-negative integer');
  if (v.annotations !== undefined) {
    if (typeof v.annotations !== 'object' || v.annotations === null || Array.isArray(v.annotations))
      fail(`${field}.annotations`, 'must be an object');
    for (const [k, a] of Object.entries(v.annotations))
      if (typeof a !== 'string') fail(`${field}.annotations.${k}`, 'must be a string');
  }
  if (v.artifactType !== undefined && typeof v.artifactType !== 'string')
    fail(`${field}.artifactType`, 'must be a string');
  return v as unknown as Descriptor;
}

/** A descriptor with only the fields that identify content (for logs and comparisons). */
export function descriptorKey(d: Pick<Descriptor, 'digest'>): string {
  return d.digest;
}
