/**
 * `oras-ts/project`: the declarative layer. `artifacts.yaml` (spec) → resolve + `artifacts.lock`
 * (plan) → reconcile the tree (apply), plus publish, verify and the shared cache. Store access is
 * injected (`TargetFactory`), so this entry never loads the HTTP stack by itself.
 * A deliberate list: what is not named here is internal.
 */

// Commands
export { install, update, plan } from './install.js';
export type { InstallOptions, InstallResult, TargetFactory } from './install.js';
export type { RepublishedTag } from './plan/republished-check.js';
export { publish } from './publish.js';
export type { PublishOptions, PublishResult, PublishTargetFactory, PublishedArtifact } from './publish.js';
export { verify } from './verify.js';
export type { VerifyOptions, VerifyReport, TreeDrift, VerifyError, LockMismatch } from './verify.js';
export { findOutdated } from './outdated.js';
export type { OutdatedEntry } from './outdated.js';
export { fetchLocked } from './fetch.js';
export type { FetchLockedOptions, FetchLockedResult } from './fetch.js';
export type { ProjectEvent, ProjectListener, PlanCounts, LinkMethod } from './events.js';

// The oras config as the commands' input: stores and settings exactly as the `oras` CLI maps them
export { projectConfig } from './configured-targets.js';
export type { ConfigOptions } from './configured-targets.js';
export { ProjectTargets } from '../targets/project-targets.js';
export type { ProjectTargetsOptions } from '../targets/project-targets.js';
export type { RegistryAccess } from '../targets/registry-access.js';
export type { TimeoutSettings } from '../targets/transfer-timeouts.js';

// Spec: the files the user writes and the lock
export type {
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
} from './types.js';
export { LOCKFILE_VERSION } from './types.js';
export { loadManifest, parseManifestText } from './spec/manifest.js';
export type { LoadedManifest } from './spec/manifest.js';
export { loadConfig, resolveConfig, defaultCacheDir } from './spec/config.js';
export type { OrasConfig, OrasConfigFile, RegistryConfig, LinkMode, LoadConfigOptions } from './spec/config.js';
export { readLockfile, writeLockfile, serializeLockfile, parseLockfileText } from './spec/lockfile.js';
export { mergeLockfiles, mergeConflictedLockfileText } from './spec/lock-merge.js';
export type { LockMerge } from './spec/lock-merge.js';
export { validateManifest, validateConfig } from './spec/validate.js';
export { validateLockfile } from './spec/lockfile-validate.js';
export type { ValidationResult } from './spec/validate.js';
export type { Issue, PathSegment } from './spec/issues.js';

// Plan: resolution and the pure diff
export { resolveDependency, resolveAll } from './plan/resolve.js';
export type {
  ResolveContext,
  ResolveTarget,
  ResolvedDependency,
  ResolveAllOptions,
  ResolveAllResult,
  RebasedDependency,
} from './plan/resolve.js';
export type { SemverTag, SemverTags } from './plan/semver-tags.js';
export { compareManifestToLock, formatSpecChanges } from './plan/spec-diff.js';
export type { SpecChange, CompareOptions } from './plan/spec-diff.js';
export { loadActual } from './plan/actual.js';
export type { ActualTree, ActualEntry, LoadActualOptions } from './plan/actual.js';
export { diff } from './plan/diff.js';
export type { DiffOptions } from './plan/diff.js';

// Apply: the shared cache
export { pruneCache } from './apply/cache/gc.js';
export type { PruneCacheOptions, PruneResult, PrunedProject } from './apply/cache/gc.js';
export type { PrunePlan, PrunePlanOptions } from './apply/cache/prune-plan.js';
export { verifyCache } from './apply/cache/verify.js';
export type { VerifyCacheOptions, VerifyCacheResult } from './apply/cache/verify.js';
export { cleanCache } from './apply/cache/clean.js';
export { listCache, cacheUsage } from './apply/cache/list.js';
export type { CachedArtifact, CacheUsage } from './apply/cache/list.js';
export type { CacheLockOptions } from './apply/cache/lock.js';
