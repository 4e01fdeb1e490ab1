/**
 * The data model of the declarative layer. These shapes are the contract
 * between the manifest loader, resolver, lockfile, reconciliation engine,
 * publisher, verifier and the CLI. The JSON Schemas in `schemas/` describe
 * the same shapes for users and editors.
 */

/** One `dependencies.<name>` entry of `artifacts.yaml`. */
export interface DependencySpec {
  /** `registry/repo:tag`, `registry/repo@sha256:…`, or `registry/repo:<semver range>` (e.g. `^1.2.0`). */
  ref: string;
  /** Directory (relative to the project root) to install into. Must stay inside the project. */
  path: string;
  /**
   * Globs (picomatch, dot files match) over the installed file paths relative
   * to `path`: a file layer's path is its title; a file unpacked from a
   * directory layer is `<title>/<inner path>` (e.g. `schemas/v1/a.json`, which
   * the glob `**\/*.json` matches; the backslash only escapes this comment).
   * A file is installed when one glob matches its path or one of its parent
   * directories (so `schemas` selects the whole directory). Default: all
   * files. A directory layer is only fetched when a file below its title
   * could be selected.
   */
  include?: string[];
  /**
   * Globs over the same paths as {@link DependencySpec.include}; a file is
   * skipped when one matches its path or one of its parent directories
   * (`schemas/README.txt` drops one file, `schemas` the whole directory, which
   * is then not fetched). Applied after `include`. Default: none.
   */
  exclude?: string[];
  /** Layer media types to install (default: all). */
  mediaTypes?: string[];
  /** `os/arch[/variant]` to pick from an index (default: the only manifest, or linux/amd64). */
  platform?: string;
  /** Unpack directory layers (tar+gzip with `io.deis.oras.content.unpack`). Default true. */
  unpack?: boolean;
}

/** A `files` entry of a publishable. A bare string is shorthand for `{ path }`. */
export interface PublishFileSpec {
  /** File, directory (packed as tar+gzip) or glob, relative to the project root. */
  path: string;
  /** Layer media type (default `application/vnd.oci.image.layer.v1.tar`, or tar+gzip for directories). */
  mediaType?: string;
  /** Title to store (default: the path relative to the project root, or the base name for globs). */
  title?: string;
  /** Let a non-glob `path` be, or go through, a symlink (default `false`: refused, so a link cannot publish e.g. a key from outside the project). */
  followSymlinks?: boolean;
}

/** One `publish.<name>` entry of `artifacts.yaml`. */
export interface PublishSpec {
  /** `registry/repo` (tags come from `tags`) or `registry/repo:tag`. */
  ref: string;
  /** Tags to apply (default: the tag in `ref`, else `latest`). */
  tags?: string[];
  artifactType?: string;
  config?: { file: string; mediaType?: string };
  files: (string | PublishFileSpec)[];
  annotations?: Record<string, string>;
  /**
   * A reference to attach the published manifest to (becomes the manifest's
   * `subject`). When it names another publishable of the project (its
   * repository and one of its tags), that one is published first and its
   * digest comes from the same run.
   */
  subject?: string;
  /**
   * Globs over tag names whose release tags (full semantic versions) may
   * still move to new content, e.g. `["*-SNAPSHOT"]`. Other release tags are
   * immutable once published (see `immutable-tags.ts`).
   */
  mutableTags?: string[];
}

/** The parsed `artifacts.yaml`. */
export interface ProjectManifest {
  dependencies: Record<string, DependencySpec>;
  publish: Record<string, PublishSpec>;
}

/** One installed file in the lockfile. `path` is POSIX, relative to the project root. */
export interface LockedFile {
  path: string;
  digest: string;
  size: number;
  /** Digest of the layer blob this file came from (equals `digest` unless unpacked from a tarball). */
  layer: string;
  /** Present when the file is executable (0o755); absent means 0o644. */
  mode?: number;
}

/**
 * One layer of a locked dependency's manifest that contributes files
 * (lockfile v2). In memory the files stay flat in {@link LockedDependency.files};
 * the lockfile groups them under their layer (see `serializeLockfile`).
 */
export interface LockedLayer {
  /** Digest of the layer blob. */
  digest: string;
  /** Size of the layer blob (always known for layers the install engine recorded). */
  size?: number;
  mediaType?: string;
  /**
   * The layer's root relative to the dependency's `path`, POSIX: for a plain
   * layer the installed file itself (its title), for an unpacked directory
   * layer the directory its files are below (its title; `.` for the
   * dependency's path itself, written as an absent `path`).
   */
  path: string;
  /** True for an unpacked directory layer (its files are listed), absent for a plain layer (the layer is the file). */
  unpacked?: boolean;
  /**
   * Unpacked directory layers: digest of the canonical listing of the whole
   * layer (every regular file with size, digest and mode, computed from the
   * verified layer blob; stored in the cache as a content-addressed blob).
   * The install engine checks the locked files against it.
   */
  listing?: string;
}

/** One dependency in `artifacts.lock`. */
export interface LockedDependency {
  /** The spec as written in artifacts.yaml (compared for `--frozen-lockfile`). */
  specifier: DependencySpec;
  /** The concrete reference that was resolved, `registry/repo:tag@digest` or `registry/repo@digest`. */
  resolved: string;
  /** The tag chosen (absent for digest pins). */
  tag?: string;
  /** Manifest digest. */
  digest: string;
  mediaType: string;
  artifactType?: string;
  /** Every file installed for this dependency, sorted by path. */
  files: LockedFile[];
  /**
   * The manifest layers the files come from, in manifest order (lockfile v2;
   * absent for entries read from a v1 lock until the next non-frozen install
   * re-derives them from the verified manifest).
   */
  layers?: LockedLayer[];
}

/** One publishable in `artifacts.lock`: what was last published. */
export interface LockedPublish {
  ref: string;
  digest: string;
  tags: string[];
}

/** The lockfile format version written (v1 locks are still read, converted in memory). */
export const LOCKFILE_VERSION = 2;

/** The parsed `artifacts.lock`. Serialized as sorted, deterministic YAML (always as {@link LOCKFILE_VERSION}). */
export interface Lockfile {
  /** The version the lock was read as (1 or 2); a written lock is always {@link LOCKFILE_VERSION}. */
  lockfileVersion: 1 | 2;
  dependencies: Record<string, LockedDependency>;
  publish: Record<string, LockedPublish>;
}

/** One file we installed, as recorded in `.oras/state.json` (the *current* record). */
export interface InstalledFile {
  path: string;
  digest: string;
  size: number;
  /** fs.Stats.mtimeMs, ino and size at install time: if unchanged, the file is trusted without rehashing. */
  mtimeMs: number;
  ino: number;
  dependency: string;
}

/** What a file looked like when it was read: stat fields and the SHA-256 (hex) of the bytes read. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ino: number;
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
}

/**
 * The inputs of the last *successful* install, recorded with its state: when
 * artifacts.yaml and artifacts.lock still match these stamps (stat and hash)
 * and every recorded file still matches its stat record, the next install is
 * a no-op without parsing or validating anything (the fast path).
 */
export interface InstallInputs {
  /** The manifest file (`name` is `artifacts.yaml` or `artifacts.yml`). */
  manifest: FileStamp & { name: string };
  /** `artifacts.lock` as written/read, or `null` when there was none. */
  lock: FileStamp | null;
  /** True when the lock's dependencies agreed with the manifest's (so `--frozen-lockfile` passes). */
  agree: boolean;
}

/** The `.oras/state.json` record of what this tool installed. */
export interface InstallState {
  stateVersion: 1;
  files: Record<string, InstalledFile>;
  /** Set only when the install that wrote this state completed: its inputs (see {@link InstallInputs}). */
  inputs?: InstallInputs;
  /**
   * Per dependency, the project-relative directories (its `path`, POSIX, `''`
   * for the project root) its recorded files were installed under. A recorded
   * file outside every root of its dependency is never removed (the record is
   * dropped when the state is read).
   */
  roots?: Record<string, string[]>;
}

/** One reconciliation action, produced by the pure `diff()` and executed by `reify()`. */
export type PlanAction =
  | { kind: 'add'; path: string; file: LockedFile; dependency: string }
  | { kind: 'change'; path: string; file: LockedFile; dependency: string; from: InstalledFile }
  | { kind: 'remove'; path: string; from: InstalledFile }
  | { kind: 'keep'; path: string; file: LockedFile; dependency: string }
  /** The file exists but was not installed by us, or was edited since: refuse unless --force. */
  | {
      kind: 'conflict';
      path: string;
      file?: LockedFile;
      dependency?: string;
      reason: 'user-modified' | 'untracked-file';
    };

/** The result of planning: actions sorted by path. */
export interface Plan {
  actions: PlanAction[];
}
