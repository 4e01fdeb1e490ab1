// Public API: re-exports only.
export * from './errors.js';
export * from './events.js';
export * from './oci/digest.js';
export * from './oci/descriptor.js';
export * from './oci/manifest.js';
export * from './oci/media-types.js';
export * from './oci/reference.js';
export * from './content/store.js';
export * from './content/read.js';
export * from './registry/transport.js';
