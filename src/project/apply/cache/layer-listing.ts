import { createHash } from 'node:crypto';
import type { TarBody } from '../../../artifact/tar-scan.js';
import { digestOf } from '../../../oci/digest.js';

/** One regular file of an unpacked directory layer, relative to the layer root. */
export interface UnpackedFile {
  path: string;
  digest: string;
  size: number;
  /** 0o755 when any execute bit is set, else absent (0o644). */
  mode?: number;
}

/** The listing of a directory layer and the digest of its canonical JSON (see {@link canonicalListing}). */
export interface LayerListing {
  digest: string;
  files: UnpackedFile[];
}

/** Media type of the listing blobs (canonical JSON, see {@link canonicalListing}). */
export const LISTING_MEDIA_TYPE = 'application/vnd.oras-ts.layer-listing.v1+json';

/**
 * The canonical JSON of a layer listing: `{"layer":…,"files":[{"path","size","digest"[,"mode"]}…]}`,
 * files sorted by path, no whitespace. Equal listings give equal bytes, hence equal digests.
 */
export function canonicalListing(layerDigest: string, files: readonly UnpackedFile[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return JSON.stringify({
    layer: layerDigest,
    files: sorted.map((f) => ({
      path: f.path,
      size: f.size,
      digest: f.digest,
      ...(f.mode !== undefined ? { mode: f.mode } : {}),
    })),
  });
}

/** Largest listing blob read (64 MiB, like the lockfile). */
export const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/** The `sha256:` digest of a scanned file's body (one-shot for a one-view body, the common case). */
export async function sha256Of(body: TarBody): Promise<string> {
  if (Array.isArray(body) && body.length === 1) return digestOf(body[0] as Uint8Array);
  const h = createHash('sha256');
  for await (const chunk of body) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}
