import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrasError } from '../../errors.js';
import type { FileStamp, InstallInputs, InstallState, InstalledFile } from '../types.js';
import { writeFileAtomic } from '../../content/fs-atomic.js';

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
  return typeof f.path === 'string' && typeof f.digest === 'string' && typeof f.size === 'number'
    && typeof f.mtimeMs === 'number' && typeof f.ino === 'number' && typeof f.dependency === 'string';
}

function validStamp(v: unknown): v is FileStamp {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.size === 'number' && typeof s.mtimeMs === 'number' && typeof s.ino === 'number' && typeof s.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.sha256);
}

/** The recorded inputs when well-formed, else undefined (a bad record only disables the fast path). */
function parseInputs(v: unknown): InstallInputs | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const i = v as Record<string, unknown>;
  const m = i.manifest as Record<string, unknown> | undefined;
  if (!validStamp(m) || (m.name !== 'artifacts.yaml' && m.name !== 'artifacts.yml')) return undefined;
  if (i.lock !== null && !validStamp(i.lock)) return undefined;
  if (typeof i.agree !== 'boolean') return undefined;
  return { manifest: { ...stampOf(m), name: m.name as string }, lock: i.lock === null ? null : stampOf(i.lock as FileStamp), agree: i.agree };
}

function stampOf(s: FileStamp): FileStamp {
  return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, sha256: s.sha256 };
}

/**
 * Reads `.oras/state.json`. A missing file (or missing `.oras`) is an empty
 * state. A state file that is a symlink, unparsable or of an unknown version
 * fails with `ERR_ORAS_IO` (never silently ignored: that would turn every
 * installed file into an "untracked" conflict).
 */
export async function readState(projectDir: string): Promise<InstallState> {
  const path = statePath(projectDir);
  let text: string;
  try {
    const st = await lstat(path);
    if (!st.isFile()) corrupt(path, 'not a regular file (symlinks are refused)');
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    if (err instanceof OrasError) throw err;
    throw new OrasError('ERR_ORAS_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    corrupt(path, 'not JSON', cause);
  }
  const d = doc as Partial<InstallState> | null;
  if (typeof d !== 'object' || d === null || d.stateVersion !== 1) corrupt(path, 'unknown stateVersion');
  if (typeof d.files !== 'object' || d.files === null || Array.isArray(d.files)) corrupt(path, 'files must be an object');
  // Validated in place (no copy: this runs over every installed file on each install).
  const files = d.files as Record<string, unknown>;
  for (const key in files) {
    const value = files[key];
    if (!validFile(value) || value.path !== key) corrupt(path, `bad entry ${JSON.stringify(key.slice(0, 200))}`);
  }
  const inputs = parseInputs((d as { inputs?: unknown }).inputs);
  return { stateVersion: 1, files: files as Record<string, InstalledFile>, ...(inputs !== undefined ? { inputs } : {}) };
}

/** Serializes a state deterministically (`inputs` when present, files sorted by path, 2-space JSON, trailing newline). */
export function serializeState(state: InstallState): string {
  const files: Record<string, InstalledFile> = {};
  for (const key of Object.keys(state.files).sort()) {
    const f = state.files[key]!;
    files[key] = { path: f.path, digest: f.digest, size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, dependency: f.dependency };
  }
  const inputs = state.inputs === undefined ? undefined
    : { manifest: { name: state.inputs.manifest.name, ...stampOf(state.inputs.manifest) }, lock: state.inputs.lock === null ? null : stampOf(state.inputs.lock), agree: state.inputs.agree };
  return `${JSON.stringify({ stateVersion: 1, ...(inputs !== undefined ? { inputs } : {}), files }, null, 2)}\n`;
}

/**
 * Writes `.oras/state.json` atomically (temp + fsync + rename). Refuses with
 * `ERR_ORAS_PATH_TRAVERSAL` when `.oras` or `state.json` is a symlink (or not
 * a directory / regular file), so the write can never land outside the project.
 */
export async function writeState(projectDir: string, state: InstallState): Promise<void> {
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
  await writeFileAtomic(path, serializeState(state));
}

/**
 * Creates `<projectDir>/.oras` when missing (never the project directory
 * itself: a missing project fails with `ERR_ORAS_CONFIG`); fails with
 * `ERR_ORAS_PATH_TRAVERSAL` when it exists as a symlink or non-directory.
 * Returns its path.
 */
export async function ensureStateDir(projectDir: string): Promise<string> {
  const dir = join(projectDir, STATE_DIR);
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new OrasError('ERR_ORAS_CONFIG', `project directory ${projectDir} does not exist`, { hint: 'run the command in a project directory (with artifacts.yaml), or pass --project <dir>' });
    }
    if (code !== 'EEXIST') throw new OrasError('ERR_ORAS_IO', `cannot create ${dir}: ${code ?? String(err)}`, { cause: err });
  }
  const st = await lstat(dir);
  if (!st.isDirectory()) {
    throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing to use ${dir}: it is a symlink or not a directory`, {
      hint: 'remove it; .oras must be a real directory inside the project',
    });
  }
  return dir;
}
