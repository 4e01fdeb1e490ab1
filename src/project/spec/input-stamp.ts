import { createHash } from 'node:crypto';
import { fstatSync, readFileSync, statSync } from 'node:fs';
import type { FileStamp } from '../types.js';

/**
 * Stamps of the project's input files (artifacts.yaml, artifacts.lock): the
 * stat fields plus the SHA-256 of the text that was actually parsed or
 * written. Recorded in `.oras/state.json` after a successful install, they let
 * the next install prove "nothing changed" without parsing (see `fast-noop.ts`).
 * Take the stat AFTER reading the text: a concurrent edit then shows up as a
 * hash mismatch, never as a stale match.
 */

/** Lowercase hex SHA-256 of `text` (as UTF-8 bytes) or of raw bytes. */
export function sha256Hex(text: string | Buffer): string {
  return typeof text === 'string'
    ? createHash('sha256').update(text, 'utf8').digest('hex')
    : createHash('sha256').update(text).digest('hex');
}

/** The stamp of `text` read from (or written to) `path`, with `path`'s current stat (following symlinks). */
export function stampFile(path: string, text: string): FileStamp {
  return stampWritten(path, sha256Hex(text));
}

/** {@link stampFile} for a text whose SHA-256 (lowercase hex) was taken while it was written. */
export function stampWritten(path: string, sha256: string): FileStamp {
  const st = statSync(path);
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
}

/** The {@link FileStamp} of the file open at `fd` (e.g. a temp about to be renamed), whose content hashes to `sha256`. */
export function stampOfFd(fd: number, sha256: string): FileStamp {
  const st = fstatSync(fd);
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
}

/**
 * The bytes of `path` when it still matches `stamp` (same size, mtimeMs and
 * inode, and the same SHA-256 — of the raw bytes, which equal the UTF-8
 * encoding of the text that was stamped; a file that is not valid UTF-8 thus
 * never matches), else `undefined` (also when it is missing, not a regular
 * file or unreadable). Synchronous: one stat, one read, no text decoding.
 */
export function readIfStamped(path: string, stamp: FileStamp): Buffer | undefined {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (
      st === undefined ||
      !st.isFile() ||
      st.size !== stamp.size ||
      st.mtimeMs !== stamp.mtimeMs ||
      st.ino !== stamp.ino
    )
      return undefined;
    const bytes = readFileSync(path);
    return sha256Hex(bytes) === stamp.sha256 ? bytes : undefined;
  } catch {
    return undefined;
  }
}
