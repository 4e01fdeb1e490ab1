/**
 * Placing an extracted directory layer into the output directory without
 * ever deleting what was there: a missing target is renamed into place as a
 * whole; an existing target directory is merged entry by entry under the
 * rules of single-file pulls (an existing file or symlink at the same path is
 * replaced by rename, never written through; nothing else is touched), and a
 * change of kind (a directory where a file is, a file where a directory is,
 * a directory through an existing symlink) is refused before anything moves.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { OrasError } from '../errors.js';

async function lstatOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function conflict(title: string, rel: string, problem: string): never {
  throw new OrasError(
    'ERR_ORAS_ALREADY_EXISTS',
    `directory layer ${JSON.stringify(title)}: ${JSON.stringify(rel)} ${problem}; nothing was changed`,
    {
      hint: 'pull never deletes or replaces a directory it did not create; move the existing path away, or pull into an empty directory (-o)',
    },
  );
}

/** One rename of the merge: `from` (in the extracted tree) onto `to`. */
interface Move {
  from: string;
  to: string;
}

/** Plans the merge of `src` into the existing real directory `dest` (no changes). */
async function planMerge(
  src: string,
  dest: string,
  title: string,
  rel: string,
  moves: Move[],
  budget: { left: number },
): Promise<void> {
  const entries: Dirent[] = await readdir(src, { withFileTypes: true });
  for (const e of entries) {
    if (--budget.left < 0)
      throw new OrasError(
        'ERR_ORAS_LIMIT_EXCEEDED',
        `directory layer ${JSON.stringify(title)} has too many entries to merge`,
        { hint: 'pull into an empty directory' },
      );
    const from = path.join(src, e.name);
    const to = path.join(dest, e.name);
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    const there = await lstatOrNull(to);
    if (there === null) {
      moves.push({ from, to });
    } else if (e.isDirectory()) {
      if (there.isSymbolicLink())
        conflict(title, `${title}/${r}`, 'exists as a symlink (a directory would be written through it)');
      if (!there.isDirectory()) conflict(title, `${title}/${r}`, 'exists and is not a directory');
      await planMerge(from, to, title, r, moves, budget);
    } else {
      if (there.isDirectory()) conflict(title, `${title}/${r}`, 'exists as a directory (a file would replace it)');
      moves.push({ from, to }); // a file or symlink over a file or symlink: replaced by rename, like a file layer
    }
  }
}

/**
 * Moves the extracted tree `src` to `dest`: renamed as a whole when `dest`
 * does not exist; merged into it when it is a real directory (see the module
 * doc); refused with `ERR_ORAS_ALREADY_EXISTS` when `dest` is a file or a
 * symlink, or when the merge would change a path's kind. Conflicts are found
 * before the first rename. `title` names the layer in messages. Returns
 * whether an existing directory was merged into.
 */
export async function placeTree(src: string, dest: string, title: string): Promise<boolean> {
  const there = await lstatOrNull(dest);
  if (there === null) {
    await rename(src, dest);
    return false;
  }
  if (there.isSymbolicLink() || !there.isDirectory())
    conflict(title, title, there.isSymbolicLink() ? 'exists as a symlink' : 'exists and is not a directory');
  const moves: Move[] = [];
  await planMerge(src, dest, title, '', moves, { left: 1_000_000 });
  for (const m of moves) await rename(m.from, m.to);
  return true;
}

/** Version-control metadata directory names (compared case-insensitively, trailing dots/spaces ignored as Windows does). */
export const VCS_DIRS: ReadonlySet<string> = new Set(['.git', '.hg', '.svn', '.bzr', '_darcs', '.jj', '.pijul', 'cvs']);

/** True when a path segment names version-control metadata (`.git`, `.hg`, `.svn`, …; `.GIT`, `.git.` too). */
export function isVcsSegment(segment: string): boolean {
  const s = segment.toLowerCase();
  const trimmed = s.replace(/[. ]+$/, '');
  return VCS_DIRS.has(s) || (trimmed !== '' && VCS_DIRS.has(trimmed));
}

/** The first POSIX relative path below `root` (bounded walk, no symlinks followed) with a version-control segment, or undefined. */
export async function findVcsPath(root: string): Promise<string | undefined> {
  const entries = await readdir(root, { recursive: true });
  for (const e of entries) {
    const rel = String(e).split(path.sep).join('/');
    if (rel.split('/').some(isVcsSegment)) return rel;
  }
  return undefined;
}
