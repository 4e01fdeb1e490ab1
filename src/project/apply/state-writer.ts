import { writeSync } from 'node:fs';
import { writeAllSync } from '../../content/fs-atomic.js';
import { PieceWriter } from '../../content/piece-writer.js';
import { OrasError } from '../../errors.js';
import type { InstalledFile } from '../types.js';
import { stateMacHasher } from './state-key.js';

/** How an authenticated state file starts: its first member is the MAC (64 hex digits follow). */
export const MAC_PREFIX = Buffer.from('{\n  "mac": "hmac-sha256:');
/** What follows the 64 hex digits of the MAC. */
export const MAC_SUFFIX = Buffer.from('",\n');
/** Where the state's own text (after its opening `{\n`) starts in the file. */
export const BODY_START = MAC_PREFIX.length + 64 + MAC_SUFFIX.length;

/** The members of a file record, in the order they are written. */
const RECORD_FIELDS = ['path', 'digest', 'size', 'mtimeMs', 'ino', 'dependency'] as const;

/**
 * The state's text after its opening `{\n`, in pieces of a few hundred characters: `head`'s members
 * (`stateVersion`, `inputs`, `roots`), then `"files"` with one member per record in sorted key
 * order, 2-space JSON and a trailing newline. Joined, `{\n` + the pieces is exactly
 * `JSON.stringify({ ...head, files }, null, 2) + '\n'` with the files sorted and each record
 * reduced to {@link RECORD_FIELDS} (asserted in test/project/state-writer.test.ts).
 */
export function stateBodyPieces(
  head: Record<string, unknown>,
  files: Record<string, InstalledFile>,
  emit: (piece: string) => void,
): void {
  const text = JSON.stringify({ ...head, files: {} }, null, 2);
  // The head ends in `"files": {}\n}`: keep it up to the `{}`, then write the files ourselves.
  emit(text.slice(2, text.length - 4));
  const keys = Object.keys(files).sort();
  if (keys.length === 0) {
    emit('{}\n}\n');
    return;
  }
  emit('{\n');
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    emit(`    ${JSON.stringify(key)}: ${recordText(files[key]!)}${i === keys.length - 1 ? '\n' : ',\n'}`);
  }
  emit('  }\n}\n');
}

/** One record as JSON.stringify(record, null, 2) writes it four levels deep; undefined members are left out. */
function recordText(record: InstalledFile): string {
  let out = '';
  for (const field of RECORD_FIELDS) {
    const value = record[field];
    if (value === undefined) continue;
    out += `${out === '' ? '' : ','}\n      "${field}": ${JSON.stringify(value)}`;
  }
  return out === '' ? '{}' : `{${out}\n    }`;
}

/**
 * Writes an authenticated state file through `fd` (a new, empty file): a placeholder header, then the
 * state's text (see {@link stateBodyPieces}) encoded through one reused buffer while its HMAC is
 * taken (`stateMacHasher(key, binding)` over `{\n` and that text), then the real header at offset 0.
 * The whole text never exists as one string or buffer: for the ~3 MB state of 10,000 files that was
 * four 3 MB copies (the JSON string, the MAC's and the write's UTF-8 encodings, a flattened
 * concatenation), each on freshly faulted pages.
 */
export function writeSignedStateSync(
  fd: number,
  key: Buffer,
  binding: string,
  head: Record<string, unknown>,
  files: Record<string, InstalledFile>,
): void {
  const hmac = stateMacHasher(key, binding);
  hmac.update('{\n');
  writeAllSync(fd, Buffer.alloc(BODY_START, 0x20));
  const writer = new PieceWriter(fd, BODY_START, (bytes) => hmac.update(bytes));
  stateBodyPieces(head, files, (piece) => writer.push(piece));
  writer.flush();
  const header = Buffer.concat([MAC_PREFIX, Buffer.from(hmac.digest('hex'), 'latin1'), MAC_SUFFIX]);
  if (writeSync(fd, header, 0, header.length, 0) !== header.length)
    throw new OrasError('ERR_ORAS_IO', 'short write: the file system did not take the state header');
}
