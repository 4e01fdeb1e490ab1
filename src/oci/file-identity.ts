import { constants, fstatSync, openSync, closeSync } from 'node:fs';
import { OrasError } from '../errors.js';

/**
 * A file's identity (device + inode) as seen when it was checked, so that
 * every later open can prove it reads the same file: a path swapped for a
 * symlink, or a parent directory swapped for one, between the check and the
 * read (a local attacker racing `publish`) opens another inode and is
 * refused instead of uploading what the new path points to.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** Open flags for a read that must not follow a symlink in the last component. */
export const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

/** True when a stat result is the file `id` names. */
export function isSameFile(st: { dev: number; ino: number }, id: FileIdentity): boolean {
  return st.dev === id.dev && st.ino === id.ino;
}

/** `ERR_ORAS_PATH_TRAVERSAL`: `path` no longer names the file that was checked. */
export function fileSwappedError(path: string, cause?: unknown): OrasError {
  return new OrasError(
    'ERR_ORAS_PATH_TRAVERSAL',
    `${path} changed between its check and its read (replaced, or reached through a swapped directory or symlink); nothing was read from it`,
    {
      hint: 'make sure nothing replaces files under the project while publishing, then retry',
      ...(cause !== undefined ? { cause } : {}),
    },
  );
}

/**
 * Opens `path` read-only without following a final symlink and returns the
 * descriptor once `fstat` shows it is the file `id` names; otherwise closes
 * it and throws {@link fileSwappedError}. Synchronous (two system calls), for
 * stream factories that must return synchronously.
 */
export function openVerifiedSync(path: string, id: FileIdentity): number {
  let fd: number;
  try {
    fd = openSync(path, READ_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw fileSwappedError(path, err);
    throw err;
  }
  if (!isSameFile(fstatSync(fd), id)) {
    closeSync(fd);
    throw fileSwappedError(path);
  }
  return fd;
}
