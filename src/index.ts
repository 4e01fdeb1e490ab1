// Public API: re-exports only.
export * from './errors.js';
export * from './events.js';

// OCI data model
export * from './oci/digest.js';
export { digestFile, type DigestFileOptions } from './oci/hash-file.js';
export * from './oci/descriptor.js';
export * from './oci/manifest.js';
export * from './oci/media-types.js';
export * from './oci/reference.js';

// Content stores
export * from './content/store.js';
export * from './content/read.js';
export * from './content/memory.js';
export * from './content/oci-layout.js';
export * from './content/fs-atomic.js';
export * from './content/file-lock.js';

// Remote registries
export * from './registry/transport.js';
export * from './registry/client.js';
export * from './registry/repository.js';
export * from './registry/registry.js';
export { errorFromResponse } from './registry/http-errors.js';
export { redactUrl, redactHeaders } from './registry/redact.js';
export type { RetryPolicy } from './registry/retry.js';
export type { Credential, CredentialProvider } from './registry/credentials/types.js';
export { createCredentialProvider } from './registry/credentials/provider.js';
export { saveCredential, removeCredential } from './registry/credentials/store.js';
export { readDockerConfig, defaultDockerConfigPath } from './registry/credentials/docker-config.js';

// Graph copy
export * from './copy/options.js';
export * from './copy/copy.js';
export * from './copy/extended-copy.js';

// Declarative layer: files and resolution
export * from './project/types.js';
export { loadManifest, parseManifestText } from './project/spec/manifest.js';
export { loadConfig, resolveConfig, defaultCacheDir } from './project/spec/config.js';
export type { OrasConfig, OrasConfigFile, RegistryConfig, LinkMode } from './project/spec/config.js';
export { readLockfile, writeLockfile, serializeLockfile, parseLockfileText } from './project/spec/lockfile.js';
export { compareManifestToLock, formatSpecChanges } from './project/plan/spec-diff.js';
export type { SpecChange } from './project/plan/spec-diff.js';
export { validateManifest, validateLockfile, validateConfig } from './project/spec/validate.js';
export type { Issue } from './project/spec/issues.js';
export { resolveDependency, resolveAll } from './project/plan/resolve.js';
export { findOutdated } from './project/outdated.js';

// Artifacts: pack files into a manifest, pull them safely into a directory
export * from './artifact/pack.js';
export * from './artifact/pull.js';
export * from './artifact/tar.js';
export * from './artifact/safe-path.js';

// Declarative layer: reconciliation
export { install, update, plan } from './project/install.js';
export type { InstallOptions, InstallResult, TargetFactory } from './project/install.js';
export { publish } from './project/publish.js';
export type { PublishOptions, PublishResult, PublishTargetFactory } from './project/publish.js';
export { verify } from './project/verify.js';
export type { VerifyReport } from './project/verify.js';
export { diff } from './project/plan/diff.js';
export type { ProjectEvent, ProjectListener } from './project/events.js';
export { fetchLocked } from './project/fetch.js';
export type { FetchLockedOptions, FetchLockedResult } from './project/fetch.js';
export { pruneCache } from './project/apply/cache-gc.js';
export type { PruneCacheOptions, PruneResult } from './project/apply/cache-gc.js';
export { verifyCache } from './project/apply/cache-verify.js';
export { cleanCache } from './project/apply/cache-clean.js';
export { listCache, cacheUsage } from './project/apply/cache-list.js';
export type { CachedArtifact, CacheUsage } from './project/apply/cache-list.js';
