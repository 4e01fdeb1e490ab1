import { lstatSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { TEMP_MARKER } from '../../content/fs-atomic.js';
import { dirHasNoSymlinkSync } from './actual.js';
import { readIfStamped } from '../spec/input-stamp.js';
import type { InstallState } from '../types.js';

/**
 * The no-op fast path of `install` (like pnpm's `node_modules/.modules.yaml`
 * check): the state written by the last *completed* install records the
 * stamps of artifacts.yaml and artifacts.lock it installed from
 * (`InstallState.inputs`). When both files still match their stamps (stat AND
 * SHA-256), the other manifest name does not exist, and every recorded file
 * still matches its stat record (size, mtimeMs, inode; regular file; no
 * symlinked parent directory), the tree is exactly what that install left:
 * installing again changes nothing, so nothing is parsed or validated.
 * Anything else (a touched or edited input, a modified/removed/replaced file,
 * no or malformed inputs record) returns `undefined`: take the full path.
 */

/** What the fast path proved. */
export interface FastNoop {
  /** Number of installed files (all kept). */
  files: number;
  /** The artifacts.lock bytes that were verified against its stamp (undefined: there is no lock). */
  lockBytes: Buffer | undefined;
}

/**
 * A recorded path that `assertProjectRelativePath` would refuse (empty, `.`
 * or `..` segment, absolute, backslash, NUL, inside `.oras/`): one regex
 * instead of per-file splits, since this runs for every installed file.
 */
const UNSAFE_PATH = /(?:^|\/)\.{0,2}(?:\/|$)|[\\\0]|^[A-Za-z]:|^\.oras(?:\/|$)/;

/** The absolute path of a recorded path, or undefined when it is not a safe project-relative path (→ full path). */
function safeAbs(projectDir: string, rel: string): string | undefined {
  if (rel.length > 4096 || UNSAFE_PATH.test(rel) || rel.includes(TEMP_MARKER)) return undefined;
  return sep === '/' ? `${projectDir}/${rel}` : join(projectDir, ...rel.split('/'));
}

/** Options for {@link checkFastNoop}. */
export interface FastNoopOptions {
  /** `--frozen-lockfile`: additionally requires the recorded manifest/lock agreement. */
  frozen: boolean;
}

/**
 * Synchronously checks whether an install of `projectDir` with `state` (read
 * under the project lock) is provably a no-op. Reads only; never throws for
 * anything on disk (any doubt → `undefined`).
 */
export function checkFastNoop(projectDir: string, state: InstallState, options: FastNoopOptions): FastNoop | undefined {
  const inputs = state.inputs;
  if (inputs === undefined) return undefined;
  if (options.frozen && !inputs.agree) return undefined;
  try {
    const otherName = inputs.manifest.name === 'artifacts.yaml' ? 'artifacts.yml' : 'artifacts.yaml';
    if (statSync(join(projectDir, otherName), { throwIfNoEntry: false }) !== undefined) return undefined;
    if (readIfStamped(join(projectDir, inputs.manifest.name), inputs.manifest) === undefined) return undefined;
    let lockBytes: Buffer | undefined;
    if (inputs.lock === null) {
      if (lstatSync(join(projectDir, 'artifacts.lock'), { throwIfNoEntry: false }) !== undefined) return undefined;
    } else {
      lockBytes = readIfStamped(join(projectDir, 'artifacts.lock'), inputs.lock);
      if (lockBytes === undefined) return undefined;
    }
    const dirChecks = new Map<string, boolean>();
    let files = 0;
    let lastDir: string | undefined;
    for (const path in state.files) {
      const rec = state.files[path]!;
      const abs = safeAbs(projectDir, path);
      if (abs === undefined) return undefined;
      // Records are sorted by path, so files of one directory are adjacent: check each directory once.
      const dir = path.slice(0, Math.max(0, path.lastIndexOf('/')));
      if (dir !== lastDir) {
        if (!dirHasNoSymlinkSync(projectDir, path, dirChecks)) return undefined;
        lastDir = dir;
      }
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile() || st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || st.ino !== rec.ino)
        return undefined;
      files += 1;
    }
    return { files, lockBytes };
  } catch {
    return undefined;
  }
}
