import { closeSync, constants as fsConstants, openSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { isInside, realRootSync } from './safe-path.js';

/*
 * Node has no `openat`/`renameat`, so a file placed by path goes wherever the path resolves at the
 * instant of the system call: `assertParentStillInsideSync` re-checks the parent (one realpath(3),
 * which walks every component of the path: ~10-25 µs) right before the create and the rename, and a
 * swap in between is not excluded. On Linux a directory can be held open and named as
 * `/proc/self/fd/<fd>`: a create or rename through that name goes into the directory the
 * descriptor holds, whatever happens to its path. ParentRoutes keeps such descriptors for the parent
 * directories a run writes into (a bounded number, least recently used closed first) and hands out
 * the route only while the directory is still exactly where it was checked: before each use the
 * kernel's name for the descriptor (`readlink` of the route, one system call) must equal the real
 * path found inside the root when it was opened. A directory moved or replaced since is dropped and
 * the caller falls back to the path check, which refuses it (`ERR_ORAS_PATH_TRAVERSAL`) when it is
 * not inside the root any more, exactly as without routes.
 */

interface Route {
  fd: number;
  /** `/proc/self/fd/<fd>` */
  via: string;
  /** The directory's real path when opened (inside the root). */
  real: string;
}

/** Descriptors kept open at most by default (32): well under any file-descriptor limit. */
const DEFAULT_MAX_OPEN = 32;

/**
 * Write routes to checked parent directories (see the module comment). `route` returns the
 * `/proc/self/fd/<fd>` name of `dirname(absPath)` when this platform has one and the directory is
 * inside `root` now, else undefined (the caller then checks the path itself, e.g. with
 * `assertParentStillInsideSync`, and writes by path). `close` closes every descriptor; one instance
 * per operation (an install's placement step).
 */
export class ParentRoutes {
  readonly #open = new Map<string, Route>();
  readonly #max: number;
  #usable = process.platform === 'linux';

  /** `maxOpen`: descriptors kept open at most (default 32). */
  constructor(maxOpen = DEFAULT_MAX_OPEN) {
    this.#max = Math.max(1, maxOpen);
  }

  /**
   * The route to the parent directory of `absPath` (below `root`), verified to still be the
   * directory opened inside `root`; undefined when there is none (not Linux, `/proc` not usable,
   * the directory missing, moved or outside `root`: the caller's path check decides then).
   */
  route(root: string, absPath: string): string | undefined {
    if (!this.#usable) return undefined;
    const dir = path.dirname(path.resolve(absPath));
    const known = this.#open.get(dir);
    if (known !== undefined) {
      this.#open.delete(dir);
      if (this.#current(known)) {
        this.#open.set(dir, known); // most recently used last
        return known.via;
      }
      closeQuietly(known.fd);
    }
    const opened = this.#openRoute(root, dir);
    if (opened === undefined) return undefined;
    if (this.#open.size >= this.#max) {
      const [oldest, r] = this.#open.entries().next().value as [string, Route];
      this.#open.delete(oldest);
      closeQuietly(r.fd);
    }
    this.#open.set(dir, opened);
    return opened.via;
  }

  /** Closes every descriptor (idempotent; later `route` calls open new ones). */
  close(): void {
    for (const r of this.#open.values()) closeQuietly(r.fd);
    this.#open.clear();
  }

  /** True while the kernel still names the descriptor's directory by the real path it had when opened. */
  #current(r: Route): boolean {
    try {
      return readlinkSync(r.via) === r.real;
    } catch {
      return false;
    }
  }

  /** Opens `dir` and returns its route when its real path is inside `root`'s; undefined otherwise. */
  #openRoute(root: string, dir: string): Route | undefined {
    let realRoot: string;
    try {
      realRoot = realRootSync(root);
    } catch {
      return undefined;
    }
    const opened = openDirRoute(dir);
    if (opened === undefined) return undefined;
    let real: string | undefined;
    try {
      real = readlinkSync(opened.via);
    } catch {
      this.#usable = false; // no /proc here: every later call falls back at once
    }
    if (real === undefined || !path.isAbsolute(real) || !isInside(realRoot, real)) {
      closeQuietly(opened.fd);
      return undefined;
    }
    return { ...opened, real };
  }
}

/**
 * Opens directory `dir` (its last component never through a symlink) and returns its descriptor
 * and `/proc/self/fd/<fd>` name; undefined off Linux or when it cannot be opened. The caller
 * checks which directory it got, and closes it with {@link closeQuietly}.
 */
export function openDirRoute(dir: string): { fd: number; via: string } | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
    return { fd, via: `/proc/self/fd/${fd}` };
  } catch {
    return undefined;
  }
}

/** Closes descriptor `fd`, ignoring an already closed one. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
