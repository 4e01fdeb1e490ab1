/**
 * The public API of `oras-ts`: a deliberate, hand-written list (what is not named here is
 * internal and may change). The declarative layer is also available alone as `oras-ts/project`.
 * `docs/api-report.txt` records this surface; `test/api-report.test.ts` fails when it changes
 * without the report being regenerated (`npm run api:report`).
 */

// Errors and events
export { OrasError, isOrasError } from './errors.js';
export type { OrasErrorCode, OrasErrorOptions, RegistryErrorEntry } from './errors.js';
export type { TransferEvent, TransferListener } from './events.js';

// OCI data model: digests, descriptors, manifests, media types, references
export { parseDigest, isDigest, digestOf, verifyContent, VerifyingStream } from './oci/digest.js';
export type { Digest, DigestAlgorithm, ParsedDigest, VerifyingStreamOptions } from './oci/digest.js';
export { digestFile } from './oci/hash-file.js';
export type { DigestFileOptions } from './oci/hash-file.js';
export type { FileIdentity } from './oci/file-identity.js';
export { validateDescriptor, EMPTY_DESCRIPTOR, EMPTY_JSON } from './oci/descriptor.js';
export type { Descriptor, Platform, ImageManifest, ImageIndex } from './oci/descriptor.js';
export { parseManifest, encodeManifest, childrenOf, MAX_MANIFEST_BYTES } from './oci/manifest.js';
export type { ParsedManifest } from './oci/manifest.js';
export { MediaType, Annotation, isManifestMediaType, isIndexMediaType } from './oci/media-types.js';
export {
  parseReference,
  formatReference,
  parseRegistryOrRepository,
  isValidTag,
  validateTag,
  validateRepository,
} from './oci/reference.js';
export type { Reference } from './oci/reference.js';

// Content stores (after oras-go: small capability interfaces composed into a Target)
export { hasReferrers, hasTags, hasDelete, hasUnhashedPush } from './content/store.js';
export type {
  CallOptions,
  FetchOptions,
  PushOptions,
  UnhashedPushOptions,
  Fetcher,
  Pusher,
  UnhashedPusher,
  Exists,
  Resolver,
  Tagger,
  Deleter,
  TagLister,
  ReferrerLister,
  ReadOnlyStorage,
  Storage,
  ReadOnlyTarget,
  Target,
} from './content/store.js';
export { readAll, fetchAll } from './content/read.js';
export { MemoryStore } from './content/memory.js';
export { OciLayoutStore } from './content/oci-layout.js';
export type { OciLayoutOptions } from './content/oci-layout.js';
export type { LayoutIndex } from './content/layout-index.js';

// Remote registries
export { RegistryClient, DEFAULT_USER_AGENT } from './registry/client.js';
export type { RegistryClientOptions } from './registry/client.js';
export type { DebugSink } from './registry/debug.js';
export type { RetryPolicy } from './registry/retry.js';
export type { TransferPolicy } from './registry/deadline.js';
export type { LookupFunction } from './registry/auth/metadata-hosts.js';
export type { ConnectTo } from './registry/tls-connect.js';
export type { HttpMethod, RegistryRequest, RegistryResponse, Transport } from './registry/transport.js';
export { Repository } from './registry/repository.js';
export type { RepositoryInit, RepositoryOptions, RepositoryClient } from './registry/repository.js';
export type { FetchedManifest } from './registry/manifests.js';
export type { MountOptions, UploadOptions } from './registry/upload.js';
export type { ReferrersApiMode } from './registry/referrers.js';
export { Registry } from './registry/registry.js';
export type { RegistryInit } from './registry/registry.js';

// Credentials: docker config.json + helpers, ORAS_REGISTRY_<HOST>_* variables, explicit values
export { createCredentialProvider } from './registry/credentials/provider.js';
export type { CredentialProviderOptions } from './registry/credentials/provider.js';
export type { Credential, CredentialProvider } from './registry/credentials/types.js';
export type { HelperOptions } from './registry/credentials/helper.js';
export { credentialFromEnv, envKeyOf } from './registry/credentials/env.js';
export { saveCredential, removeCredential } from './registry/credentials/store.js';
export type { CredentialStoreOptions, CredentialLocation } from './registry/credentials/store.js';
export { readDockerConfig, defaultDockerConfigPath } from './registry/credentials/docker-config.js';
export type { DockerConfigFile, DockerAuthEntry } from './registry/credentials/docker-config.js';

// oras config → stores: the mapping the CLI uses (ociLayout, mirrors, plain HTTP, TLS, credentials, headers, timeouts)
export { registrySettings } from './targets/registry-settings.js';
export { registryClientOptions, createRegistryClientFor } from './targets/registry-access.js';
export type { RegistryAccess, RegistryClientForOptions } from './targets/registry-access.js';
export { registryTimeouts } from './targets/transfer-timeouts.js';
export type { TimeoutSettings } from './targets/transfer-timeouts.js';
export { MirroredTarget } from './targets/mirrored-target.js';
export type { MirrorCandidate } from './targets/mirrored-target.js';
export { ProjectTargets } from './targets/project-targets.js';
export type { ProjectTargetsOptions } from './targets/project-targets.js';

// Graph copy
export { copy, copyGraph } from './copy/copy.js';
export { extendedCopy, extendedCopyGraph } from './copy/extended-copy.js';
export { DEFAULT_COPY_CONCURRENCY, DEFAULT_MAX_DEPTH } from './copy/options.js';
export type { CopyOptions, ExtendedCopyOptions } from './copy/options.js';

// Artifacts: files → manifest (push), manifest → files (pull), reproducible tar
export { packArtifact } from './artifact/pack.js';
export type { PackArtifactOptions, PackArtifactResult, PackFileInput, PackedLayer } from './artifact/pack.js';
export { buildManifest } from './artifact/build-manifest.js';
export type { BuildManifestInput, BuiltManifest, ImageSpecVersion } from './artifact/build-manifest.js';
export { pullArtifact, planPull } from './artifact/pull.js';
export type {
  PullArtifactOptions,
  PullArtifactResult,
  PulledFile,
  PullSelectOptions,
  PlanPullOptions,
  PullPlan,
  PlannedLayer,
  PullCandidate,
  SkippedLayer,
} from './artifact/pull.js';
export { packDirectory, writeDirectoryTar } from './artifact/tar.js';
export type { PackDirectoryOptions, PackedDirectory } from './artifact/tar.js';
export { extractTarGz, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_UNCOMPRESSED_BYTES } from './artifact/tar-extract.js';
export type { ExtractOptions, ExtractResult, ExtractedFile } from './artifact/tar-extract.js';

// The declarative layer (the same list as `oras-ts/project`)
export {
  install,
  update,
  plan,
  publish,
  verify,
  findOutdated,
  fetchLocked,
  projectConfig,
  LOCKFILE_VERSION,
  loadManifest,
  parseManifestText,
  loadConfig,
  resolveConfig,
  defaultCacheDir,
  readLockfile,
  writeLockfile,
  serializeLockfile,
  parseLockfileText,
  mergeLockfiles,
  mergeConflictedLockfileText,
  validateManifest,
  validateLockfile,
  validateConfig,
  resolveDependency,
  resolveAll,
  compareManifestToLock,
  formatSpecChanges,
  loadActual,
  diff,
  pruneCache,
  verifyCache,
  cleanCache,
  listCache,
  cacheUsage,
} from './project/index.js';
export type {
  InstallOptions,
  InstallResult,
  RepublishedTag,
  TargetFactory,
  PublishOptions,
  PublishResult,
  PublishTargetFactory,
  PublishedArtifact,
  VerifyOptions,
  VerifyReport,
  TreeDrift,
  VerifyError,
  LockMismatch,
  OutdatedEntry,
  FetchLockedOptions,
  FetchLockedResult,
  ConfigOptions,
  ProjectEvent,
  ProjectListener,
  PlanCounts,
  LinkMethod,
  DependencySpec,
  PublishFileSpec,
  PublishSpec,
  ProjectManifest,
  LockedFile,
  LockedLayer,
  LockedDependency,
  LockedPublish,
  Lockfile,
  InstalledFile,
  InstallState,
  InstallInputs,
  FileStamp,
  PlanAction,
  Plan,
  LoadedManifest,
  OrasConfig,
  OrasConfigFile,
  RegistryConfig,
  LinkMode,
  LoadConfigOptions,
  LockMerge,
  ValidationResult,
  Issue,
  PathSegment,
  ResolveContext,
  ResolveTarget,
  ResolvedDependency,
  ResolveAllOptions,
  ResolveAllResult,
  RebasedDependency,
  SemverTag,
  SemverTags,
  SpecChange,
  CompareOptions,
  ActualTree,
  ActualEntry,
  LoadActualOptions,
  DiffOptions,
  PruneCacheOptions,
  PruneResult,
  PrunedProject,
  PrunePlan,
  PrunePlanOptions,
  VerifyCacheOptions,
  VerifyCacheResult,
  CachedArtifact,
  CacheUsage,
  CacheLockOptions,
} from './project/index.js';
