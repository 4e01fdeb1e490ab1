import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';

/** The largest file {@link readSmallFileSync} reads by default: 1 MiB. */
export const SMALL_READ_BYTES = 1024 * 1024;

/** Options of {@link readSmallFileSync}. */
export interface SmallReadOptions {
  /** Largest size read (default {@link SMALL_READ_BYTES}); a bigger file gives `undefined`. */
  limit?: number;
  /** Refuse a symbolic link as the last component (`O_NOFOLLOW`: the system error `ELOOP`). Default false. */
  noFollow?: boolean;
}

/**
 * Reads a small regular file on the calling thread: one `open`, `fstat`, read(s) and `close`,
 * no thread-pool round trip (for the many manifests and listings of an install with hundreds of
 * dependencies, each of which would otherwise take four or five). Returns `undefined` when the
 * path is not a regular file or holds more than the limit (read it asynchronously then). System
 * errors (`ENOENT`, `ELOOP` with `noFollow`, …) are thrown as they are.
 */
export function readSmallFileSync(path: string, options: SmallReadOptions = {}): Buffer | undefined {
  const limit = options.limit ?? SMALL_READ_BYTES;
  const flags = fsConstants.O_RDONLY | (options.noFollow === true ? fsConstants.O_NOFOLLOW : 0);
  const fd = openSync(path, flags);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > limit) return undefined;
    const buf = Buffer.allocUnsafe(st.size + 1); // one byte more: a file that grew is seen
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > st.size) return undefined; // grew since its fstat
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
