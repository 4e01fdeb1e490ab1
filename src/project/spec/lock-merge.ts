import { readFile } from 'node:fs/promises';
import { OrasError } from '../../errors.js';
import { writeFileAtomic } from '../../content/fs-atomic.js';
import { LOCKFILE_VERSION, type Lockfile } from '../types.js';
import { LOCKFILE_NAME, parseLockfileText, serializeLockfile } from './lockfile.js';

/**
 * Merging `artifacts.lock` entry by entry (as pnpm's merge-lockfile-changes
 * does for pnpm-lock.yaml). Lock entries are independent — one per
 * dependency, one per publishable — so two branches that each add or update
 * different entries merge without re-resolving anything:
 *
 * - an entry present on one side only, or equal on both, is taken;
 * - with a merge base (the git merge driver): an entry changed (or removed) on
 *   one side only takes that side's version;
 * - an entry that differs on both sides is a true conflict: it is left out of
 *   the merged lock, so the next `oras install` resolves it afresh (only it)
 *   from the merged artifacts.yaml.
 *
 * Works on parsed {@link Lockfile} objects (never on YAML lines), so it does
 * not depend on the lock's text layout.
 */

/** The merged lock and the entries that conflicted (`dependencies.<name>` / `publish.<name>`, sorted). */
export interface LockMerge {
  lock: Lockfile;
  conflicts: string[];
}

const OURS = /^<{7}(?: |$)/;
const BASE = /^\|{7}(?: |$)/;
const SPLIT = /^={7}$/;
const END = /^>{7}(?: |$)/;

/** True when `text` holds git conflict markers (a line starting with `<<<<<<<`, `=======` or `>>>>>>>`). */
export function hasConflictMarkers(text: string): boolean {
  return /^(<{7}|>{7}|={7})( |$)/m.test(text);
}

/**
 * Splits text with git conflict markers (`merge` or `diff3` style) into the
 * "ours" and "theirs" versions: text outside the hunks goes to both, the base
 * section of a diff3 hunk to neither. Malformed markers → `ERR_ORAS_LOCKFILE`.
 */
export function splitConflictMarkers(text: string, fileName = LOCKFILE_NAME): { ours: string; theirs: string } {
  const ours: string[] = [];
  const theirs: string[] = [];
  let section: 'both' | 'ours' | 'base' | 'theirs' = 'both';
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const bad = (what: string): OrasError =>
      new OrasError('ERR_ORAS_LOCKFILE', `${fileName}:${i + 1}: unexpected ${what} in git conflict markers`, {
        hint: `restore ${fileName} from one branch (git checkout --ours ${fileName}) and run \`oras install\``,
      });
    if (OURS.test(line)) {
      if (section !== 'both') throw bad('"<<<<<<<"');
      section = 'ours';
    } else if (BASE.test(line)) {
      if (section !== 'ours') throw bad('"|||||||"');
      section = 'base';
    } else if (SPLIT.test(line)) {
      if (section !== 'ours' && section !== 'base') throw bad('"======="');
      section = 'theirs';
    } else if (END.test(line)) {
      if (section !== 'theirs') throw bad('">>>>>>>"');
      section = 'both';
    } else {
      if (section === 'both' || section === 'ours') ours.push(line);
      if (section === 'both' || section === 'theirs') theirs.push(line);
    }
  }
  if (section !== 'both') {
    throw new OrasError('ERR_ORAS_LOCKFILE', `${fileName}: unterminated git conflict markers`, {
      hint: `restore ${fileName} from one branch (git checkout --ours ${fileName}) and run \`oras install\``,
    });
  }
  return { ours: ours.join('\n'), theirs: theirs.join('\n') };
}

/** A canonical text of one entry, for equality (independent of how the entry was parsed). */
function entryText(section: 'dependencies' | 'publish', value: unknown): string {
  const lock = {
    lockfileVersion: LOCKFILE_VERSION,
    dependencies: {},
    publish: {},
    [section]: { x: value },
  } as Lockfile;
  return serializeLockfile(lock);
}

function mergeSection<T>(
  section: 'dependencies' | 'publish',
  ours: Record<string, T>,
  theirs: Record<string, T>,
  base: Record<string, T> | undefined,
  conflicts: string[],
): Record<string, T> {
  const out: Record<string, T> = {};
  const names = new Set([...Object.keys(ours), ...Object.keys(theirs), ...Object.keys(base ?? {})]);
  const text = (v: T | undefined): string | undefined => (v === undefined ? undefined : entryText(section, v));
  for (const name of [...names].sort()) {
    const o = ours[name];
    const t = theirs[name];
    const b = base?.[name];
    const [ot, tt, bt] = [text(o), text(t), text(b)];
    let pick: T | undefined;
    if (ot === tt) pick = o;
    else if (base !== undefined && ot === bt)
      pick = t; // only theirs changed (or removed) it
    else if (base !== undefined && tt === bt)
      pick = o; // only ours changed (or removed) it
    else if (base === undefined && (o === undefined || t === undefined))
      pick = o ?? t; // added on one side
    else {
      conflicts.push(`${section}.${name}`);
      continue;
    }
    if (pick !== undefined) out[name] = pick;
  }
  return out;
}

/**
 * Merges two locks entry by entry, three-way when `base` is given (see the
 * module doc). Truly conflicting entries are left out and listed. PURE.
 */
export function mergeLockfiles(ours: Lockfile, theirs: Lockfile, base?: Lockfile): LockMerge {
  const conflicts: string[] = [];
  const dependencies = mergeSection(
    'dependencies',
    ours.dependencies,
    theirs.dependencies,
    base?.dependencies,
    conflicts,
  );
  const publish = mergeSection('publish', ours.publish, theirs.publish, base?.publish, conflicts);
  return { lock: { lockfileVersion: LOCKFILE_VERSION, dependencies, publish }, conflicts: conflicts.sort() };
}

/**
 * Merges lock text holding git conflict markers: both sides are rebuilt from
 * the markers, parsed (validated) and merged by entry. Errors:
 * `ERR_ORAS_LOCKFILE` when the markers are malformed or a side is not a
 * valid lock.
 */
export function mergeConflictedLockfileText(text: string, fileName = LOCKFILE_NAME): LockMerge {
  const { ours, theirs } = splitConflictMarkers(text, fileName);
  return mergeLockfiles(
    parseLockfileText(ours, `${fileName} (ours)`),
    parseLockfileText(theirs, `${fileName} (theirs)`),
  );
}

async function readSide(path: string, what: string, optional: boolean): Promise<Lockfile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OrasError(
      'ERR_ORAS_IO',
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
  if (optional && text.trim() === '') return undefined; // no common ancestor (both branches added the lock)
  return parseLockfileText(text, `${what} ${path}`);
}

/**
 * The git merge driver: `oras lock merge %O %A %B` — merges base `basePath`,
 * ours `oursPath` and theirs `theirsPath` by entry and writes the result to
 * `oursPath` (atomically), as git expects. An empty or missing base is a
 * two-way merge. Returns the merge (its `conflicts` were dropped from the
 * written lock for `oras install` to re-resolve). Errors (`ERR_ORAS_LOCKFILE`,
 * `ERR_ORAS_IO`) leave `oursPath` untouched, so git reports a conflict.
 */
export async function mergeLockfileFiles(basePath: string, oursPath: string, theirsPath: string): Promise<LockMerge> {
  const [base, ours, theirs] = await Promise.all([
    readSide(basePath, 'base', true),
    readSide(oursPath, 'ours', false),
    readSide(theirsPath, 'theirs', false),
  ]);
  const merged = mergeLockfiles(ours!, theirs!, base);
  await writeFileAtomic(oursPath, serializeLockfile(merged.lock));
  return merged;
}
