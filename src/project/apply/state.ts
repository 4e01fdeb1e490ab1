import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrasError } from '../../errors.js';
import type { FileStamp, InstallInputs, InstallState, InstalledFile } from '../types.js';
import { writeFileAtomicWith } from '../../content/fs-atomic.js';
import { emit, type ProjectListener } from '../events.js';
import { macEquals, projectBinding, stateKey, stateMac } from './state-key.js';
import { BODY_START, MAC_PREFIX, MAC_SUFFIX, stateBodyPieces, writeSignedStateSync } from './state-writer.js';

/** The project-private directory holding `state.json` and the `lock` file. */
export const STATE_DIR = '.oras';
/** The state file name inside {@link STATE_DIR}. */
export const STATE_FILE = 'state.json';

/** An empty state (nothing installed). */
export function emptyState(): InstallState {
  return { stateVersion: 1, files: {} };
}

/** `<projectDir>/.oras/state.json`. */
export function statePath(projectDir: string): string {
  return join(projectDir, STATE_DIR, STATE_FILE);
}

function corrupt(path: string, problem: string, cause?: unknown): never {
  throw new OrasError('ERR_ORAS_IO', `${path} is not a valid install state: ${problem}`, {
    hint: 'delete .oras/state.json and run install again: files that match the lockfile are adopted, others are reported as conflicts',
    ...(cause !== undefined ? { cause } : {}),
  });
}

function validFile(v: unknown): v is InstalledFile {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return (
    typeof f.path === 'string' &&
    typeof f.digest === 'string' &&
    typeof f.size === 'number' &&
    typeof f.mtimeMs === 'number' &&
    typeof f.ino === 'number' &&
    typeof f.dependency === 'string'
  );
}

function validStamp(v: unknown): v is FileStamp {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.size === 'number' &&
    typeof s.mtimeMs === 'number' &&
    typeof s.ino === 'number' &&
    typeof s.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(s.sha256)
  );
}

/** The recorded inputs when well-formed, else undefined (a bad record only disables the fast path). */
function parseInputs(v: unknown): InstallInputs | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const i = v as Record<string, unknown>;
  const m = i.manifest as Record<string, unknown> | undefined;
  if (!validStamp(m) || (m.name !== 'artifacts.yaml' && m.name !== 'artifacts.yml')) return undefined;
  if (i.lock !== null && !validStamp(i.lock)) return undefined;
  if (typeof i.agree !== 'boolean') return undefined;
  return {
    manifest: { ...stampOf(m), name: m.name as string },
    lock: i.lock === null ? null : stampOf(i.lock as FileStamp),
    agree: i.agree,
  };
}

function stampOf(s: FileStamp): FileStamp {
  return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, sha256: s.sha256 };
}

/** Options for {@link readState} and {@link writeState}. */
export interface StateOptions {
  /** Environment for the state key location (`XDG_STATE_HOME`, `HOME`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Receives `state-ignored` when the state (or some of its records) is not used. */
  onEvent?: ProjectListener;
}

/** Options for {@link writeState}. */
export interface WriteStateOptions extends StateOptions {
  /**
   * Awaited once the state's temp file is written and fsynced, right before it is renamed over
   * state.json; a rejection removes the temp and fails the write (state.json stays as it was).
   * Reify passes the sync of the tree, so a state written during that sync lands only after it.
   */
  beforeRename?: () => Promise<void>;
}

/**
 * The body of an authenticated state file when its MAC verifies for this
 * user and this project, else the reason it does not.
 */
function authenticate(
  bytes: Buffer,
  projectDir: string,
  env: NodeJS.ProcessEnv,
): { body: Buffer } | { reason: string } {
  if (
    bytes.length < BODY_START ||
    !bytes.subarray(0, MAC_PREFIX.length).equals(MAC_PREFIX) ||
    !bytes.subarray(MAC_PREFIX.length + 64, BODY_START).equals(MAC_SUFFIX)
  ) {
    return { reason: 'it carries no signature of this machine (committed, copied or written by an older oras-ts)' };
  }
  const key = stateKey(env, false);
  const binding = projectBinding(projectDir);
  if (key === undefined || binding === undefined) return { reason: 'not written on this machine (no state key here)' };
  const mac = bytes.subarray(MAC_PREFIX.length, MAC_PREFIX.length + 64).toString('latin1');
  const body = bytes.subarray(BODY_START);
  if (!macEquals(mac, stateMac(key, binding, ['{\n', body])))
    return { reason: 'not written on this machine for this checkout' };
  return { body };
}

/** A path no removal may ever touch: `.git`/`.oras` (at any depth) and the project's own spec, lock and config files. */
const PROTECTED = /(?:^|\/)\.git(?:\/|$)|^\.oras(?:\/|$)|^artifacts\.(?:yaml|yml|lock)$/;

/** True when `path` is `root` or below it (`''` is the project root). */
export function withinRoot(path: string, root: string): boolean {
  return root === '' || path === root || (path.startsWith(root) && path.charCodeAt(root.length) === 47);
}

/**
 * Drops the records that break the hard rules (even an authenticated state
 * never makes install remove them): protected paths ({@link PROTECTED}) and
 * files outside every recorded root of their dependency. Returns how many.
 */
function dropUnsafeRecords(files: Record<string, InstalledFile>, roots: Record<string, string[]>): number {
  let dropped = 0;
  for (const key in files) {
    const f = files[key]!;
    const r = roots[f.dependency];
    if (PROTECTED.test(key) || r === undefined || !r.some((root) => withinRoot(key, root))) {
      delete files[key];
      dropped += 1;
    }
  }
  return dropped;
}

function parseRoots(v: unknown): Record<string, string[]> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string[]> = {};
  for (const [dep, list] of Object.entries(v as Record<string, unknown>)) {
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) return undefined;
    out[dep] = list as string[];
  }
  return out;
}

/**
 * Reads `.oras/state.json`. A missing file (or missing `.oras`) is an empty
 * state. The file must carry a valid MAC of this user's state key for this
 * project (see `state-key.ts`): a state that does not (committed to the
 * repository, forged, copied from another checkout or machine, written by an
 * older version) is ignored — an empty state is returned and a
 * `state-ignored` event is emitted; the install then adopts files matching
 * the lock by hash and reports others as conflicts, and removes nothing. An
 * authenticated state still never names protected paths (`.git/`, `.oras/`,
 * `artifacts.{yaml,yml,lock}`) or files outside their dependency's recorded
 * roots: such records are dropped (with a `state-ignored` event). A state
 * file that is a symlink, or authenticated but unparsable or of an unknown
 * version, fails with `ERR_ORAS_IO`.
 */
export async function readState(projectDir: string, options: StateOptions = {}): Promise<InstallState> {
  const path = statePath(projectDir);
  let bytes: Buffer;
  try {
    const st = await lstat(path);
    if (!st.isFile()) corrupt(path, 'not a regular file (symlinks are refused)');
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    if (err instanceof OrasError) throw err;
    throw new OrasError('ERR_ORAS_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const auth = authenticate(bytes, projectDir, options.env ?? process.env);
  if ('reason' in auth) {
    emit(options.onEvent, { type: 'state-ignored', path: `${STATE_DIR}/${STATE_FILE}`, reason: auth.reason });
    return emptyState();
  }
  let doc: unknown;
  try {
    doc = JSON.parse(`{\n${auth.body.toString('utf8')}`);
  } catch (cause) {
    corrupt(path, 'not JSON', cause);
  }
  const d = doc as Partial<InstallState> | null;
  if (typeof d !== 'object' || d === null || d.stateVersion !== 1) corrupt(path, 'unknown stateVersion');
  if (typeof d.files !== 'object' || d.files === null || Array.isArray(d.files))
    corrupt(path, 'files must be an object');
  // Validated in place (no copy: this runs over every installed file on each install).
  const files = d.files as Record<string, unknown>;
  for (const key in files) {
    const value = files[key];
    if (!validFile(value) || value.path !== key) corrupt(path, `bad entry ${JSON.stringify(key.slice(0, 200))}`);
  }
  const roots = parseRoots(d.roots) ?? {};
  const dropped = dropUnsafeRecords(files as Record<string, InstalledFile>, roots);
  if (dropped > 0) {
    emit(options.onEvent, {
      type: 'state-ignored',
      path: `${STATE_DIR}/${STATE_FILE}`,
      reason: `${dropped} record(s) outside their dependency's path or protected; they are never removed`,
    });
  }
  const inputs = dropped === 0 ? parseInputs((d as { inputs?: unknown }).inputs) : undefined;
  return {
    stateVersion: 1,
    files: files as Record<string, InstalledFile>,
    roots,
    ...(inputs !== undefined ? { inputs } : {}),
  };
}

/**
 * Serializes a state deterministically, without its MAC: `stateVersion`,
 * `inputs` when present, `roots` (sorted), files sorted by path, 2-space
 * JSON, trailing newline. {@link writeState} writes the same text, signed,
 * without building it whole (see state-writer.ts).
 */
export function serializeState(state: InstallState): string {
  const pieces = ['{\n'];
  stateBodyPieces(stateHead(state), state.files, (piece) => pieces.push(piece));
  return pieces.join('');
}

/** The members written before `files`: `stateVersion`, `inputs` when present, `roots` (each sorted, without duplicates). */
function stateHead(state: InstallState): Record<string, unknown> {
  const inputs =
    state.inputs === undefined
      ? undefined
      : {
          manifest: { name: state.inputs.manifest.name, ...stampOf(state.inputs.manifest) },
          lock: state.inputs.lock === null ? null : stampOf(state.inputs.lock),
          agree: state.inputs.agree,
        };
  const roots: Record<string, string[]> = {};
  for (const dep of Object.keys(state.roots ?? {}).sort()) roots[dep] = [...new Set(state.roots![dep])].sort();
  return { stateVersion: 1, ...(inputs !== undefined ? { inputs } : {}), roots };
}

/**
 * Writes `.oras/state.json` atomically (temp + fsync + rename), signed with
 * this user's state key: a first member `"mac": "hmac-sha256:<hex>"`, the
 * HMAC-SHA256 of the rest (see `state-key.ts`, `state-writer.ts`); creates
 * the key on first use. Refuses with
 * `ERR_ORAS_PATH_TRAVERSAL` when `.oras` or `state.json` is a symlink (or not
 * a directory / regular file), so the write can never land outside the project.
 * Adds `.oras/.gitignore` when it is missing. With `beforeRename`, the rename waits for it.
 */
export async function writeState(
  projectDir: string,
  state: InstallState,
  options: WriteStateOptions = {},
): Promise<void> {
  const dir = join(projectDir, STATE_DIR);
  await ensureStateDir(projectDir);
  const path = join(dir, STATE_FILE);
  try {
    const st = await lstat(path);
    if (!st.isFile()) {
      throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing to write ${path}: it is not a regular file`, {
        hint: 'remove the symlink or directory at .oras/state.json',
      });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const binding = projectBinding(projectDir);
  if (binding === undefined)
    throw new OrasError('ERR_ORAS_CONFIG', `project directory ${projectDir} does not exist`, {
      hint: 'run the command in a project directory (with artifacts.yaml), or pass --project <dir>',
    });
  const key = stateKey(options.env ?? process.env, true)!;
  await writeFileAtomicWith(
    path,
    (fd) => writeSignedStateSync(fd, key, binding, stateHead(state), state.files),
    options.beforeRename !== undefined ? { beforeRename: options.beforeRename } : {},
  );
  // Projects whose .oras predates the .gitignore get one too (never replacing an existing file).
  await writeFile(join(dir, '.gitignore'), STATE_GITIGNORE, { flag: 'wx' }).catch(() => undefined);
}

/**
 * Creates `<projectDir>/.oras` when missing, with a `.gitignore` of `*` (so
 * its content is never committed); never the project directory itself (a
 * missing project fails with `ERR_ORAS_CONFIG`). Fails with
 * `ERR_ORAS_PATH_TRAVERSAL` when it exists as a symlink or non-directory.
 * Returns its path.
 */
export async function ensureStateDir(projectDir: string): Promise<string> {
  const dir = join(projectDir, STATE_DIR);
  let created = false;
  try {
    await mkdir(dir);
    created = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new OrasError('ERR_ORAS_CONFIG', `project directory ${projectDir} does not exist`, {
        hint: 'run the command in a project directory (with artifacts.yaml), or pass --project <dir>',
      });
    }
    if (code !== 'EEXIST')
      throw new OrasError('ERR_ORAS_IO', `cannot create ${dir}: ${code ?? String(err)}`, { cause: err });
  }
  const st = await lstat(dir);
  if (!st.isDirectory()) {
    throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing to use ${dir}: it is a symlink or not a directory`, {
      hint: 'remove it; .oras must be a real directory inside the project',
    });
  }
  if (created) await writeFile(join(dir, '.gitignore'), STATE_GITIGNORE, { flag: 'wx' }).catch(() => undefined);
  return dir;
}

/**
 * The `.oras/.gitignore` written when `.oras` is created: everything in it is
 * machine-local (state, lock) and must never be committed.
 */
export const STATE_GITIGNORE = '# machine-local oras-ts state: never commit it\n*\n';
