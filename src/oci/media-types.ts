/**
 * Media type constants from the OCI image spec, Docker and ORAS.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/media-types.md
 */
export const MediaType = {
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  ImageLayer: 'application/vnd.oci.image.layer.v1.tar',
  ImageLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ImageLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  Empty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** ORAS default config media type for image-spec v1.0 pushes without `--config`. */
  UnknownConfig: 'application/vnd.unknown.config.v1+json',
  /** ORAS default artifact type for image-spec v1.1 pushes without `--artifact-type`. */
  UnknownArtifact: 'application/vnd.unknown.artifact.v1',
  /** Default layer media type for files pushed without an explicit type. */
  DefaultLayer: 'application/vnd.oci.image.layer.v1.tar',
  OctetStream: 'application/octet-stream',
} as const;

/** Manifest media types we accept on GET, in order of preference (sent as `Accept`). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.ImageManifest,
  MediaType.ImageIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
];

/**
 * Annotation keys used by ORAS and the OCI spec.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/annotations.md#pre-defined-annotation-keys
 */
export const Annotation = {
  Title: 'org.opencontainers.image.title',
  Created: 'org.opencontainers.image.created',
  /** ORAS: digest of the uncompressed tar of a pushed directory. */
  ContentDigest: 'io.deis.oras.content.digest',
  /** ORAS: `"true"` when the layer is a directory tarball to unpack on pull. */
  ContentUnpack: 'io.deis.oras.content.unpack',
  RefName: 'org.opencontainers.image.ref.name',
} as const;

/** True for the media types of manifests and indexes (things fetched from `/manifests/`). */
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_ACCEPT.includes(mediaType);
}

/** True for index-like media types (OCI index, Docker manifest list). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ImageIndex || mediaType === MediaType.DockerManifestList;
}
