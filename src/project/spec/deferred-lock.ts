import { validateLockfile } from './lockfile-validate.js';
import { parseCanonicalYaml } from './canonical-yaml.js';
import type { Lockfile } from '../types.js';

/**
 * A lock read without its file lines (PURE), for the install's warm path.
 *
 * A lock lists every file of an unpacked layer (10,000 lines for a layer of
 * 10,000 files), and the install binds every entry to its locked manifest
 * anyway: the files its manifest and verified listing produce must be exactly
 * the files the entry lists (`plan/locked-files.ts`). Parsing, schema-checking
 * and path-checking those lines and then comparing them with the produced
 * files took ~0.1 s of a warm install of 10,000 files. So an install reads the
 * lock without them ({@link deferFileLines}: the rest parsed and validated as
 * usual), computes each entry's files from the cache, writes the entry as the
 * lock writer would, and compares that text with the entry's text in the file
 * (`plan/deferred-files.ts`). Equal text is the same entry, so the files are
 * then known, and known to be what the manifest produces; any difference, or
 * anything not in the cache, and the whole lock is parsed and validated as
 * before ({@link DeferredLock.text}), with the same results and messages.
 */

/** A lock whose unpacked layers' file lines were left unread. */
export interface DeferredLock {
  /**
   * The lock without those lines (each such layer with `files: []`), parsed and validated. Never
   * use it as a lock: its deferred entries list none of their unpacked files.
   */
  skeleton: Lockfile;
  /** Each dependency with unread lines → its whole entry as written (key line to last line, each with its newline). */
  entries: Map<string, string>;
  /** The lock's whole text (the fallback parses it). */
  text: string;
}

/** A dependency's key line in a canonical lock (`  name:`, a plain key). */
const ENTRY_KEY = /^ {2}([A-Za-z0-9_][A-Za-z0-9._-]*):$/;
/** An unpacked layer's `files:` line as the lock writer puts it (a field of a layer item). */
const FILES_KEY = '        files:';
/** The start of each of its file lines (one flow mapping per file). */
const FILE_LINE = '          - { ';

/**
 * Splits a lock's text (lockfile v2 as the writer puts it) into a skeleton
 * without the file lines of unpacked layers and the text of each entry that
 * had some; parses and validates the skeleton like any lock. Undefined when
 * the text is not in that form, when no line was left out, or when the
 * skeleton has any issue: the caller then parses the whole text.
 */
export function deferFileLines(text: string): DeferredLock | undefined {
  if (text.includes('\r') || !text.endsWith('\n')) return undefined;
  // One pass over the text by offsets: a file line is only tested (startsWith), never cut out.
  const kept: string[] = [];
  const entries = new Map<string, string>();
  let inDependencies = false;
  let entry: { name: string; start: number; deferred: boolean } | undefined;
  const close = (end: number): void => {
    if (entry?.deferred === true) entries.set(entry.name, text.slice(entry.start, end));
    entry = undefined;
  };
  for (let pos = 0; pos < text.length;) {
    const end = text.indexOf('\n', pos);
    let indent = 0;
    while (text.charCodeAt(pos + indent) === 0x20) indent++;
    const line = text.slice(pos, end);
    if (indent <= 2) close(pos);
    if (indent === 0) inDependencies = line === 'dependencies:';
    else if (inDependencies && indent === 2) {
      const m = ENTRY_KEY.exec(line);
      if (m === null) return undefined;
      entry = { name: m[1]!, start: pos, deferred: false };
    } else if (entry !== undefined && line === FILES_KEY && text.startsWith(FILE_LINE, end + 1)) {
      kept.push(`${FILES_KEY} []`);
      pos = end + 1;
      while (text.startsWith(FILE_LINE, pos)) pos = text.indexOf('\n', pos) + 1;
      entry.deferred = true;
      continue;
    }
    kept.push(line);
    pos = end + 1;
  }
  close(text.length);
  if (entries.size === 0) return undefined;
  const doc = parseCanonicalYaml(`${kept.join('\n')}\n`);
  if (doc === undefined) return undefined;
  const { value: skeleton, issues } = validateLockfile(doc);
  if (skeleton === undefined || issues.length > 0 || skeleton.lockfileVersion !== 2) return undefined;
  return { skeleton, entries, text };
}
