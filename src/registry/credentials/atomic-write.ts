/** Atomic file replacement for config.json (temp + fsync + rename). */
import { lstat, mkdir, readlink, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic as atomicWrite } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';

/**
 * The real file to write for `path`: `path` itself, or — when `path` is a
 * symlink — the link's fully resolved target (so the link survives and the
 * rename happens in the target's directory, never replacing the link with a
 * file). A dangling link resolves to its target path (bounded to 20 hops).
 */
export async function resolveWriteTarget(path: string): Promise<string> {
  let current = path;
  for (let i = 0; i < 20; i++) {
    let st;
    try {
      st = await lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw err;
    }
    if (!st.isSymbolicLink()) return i === 0 ? current : realpath(current);
    const link = await readlink(current);
    current = link.startsWith('/') ? link : join(dirname(current), link);
  }
  throw new OrasError('ERR_ORAS_CONFIG', `${path}: too many levels of symbolic links`, {
    hint: 'fix the docker config symlink',
  });
}

/**
 * Writes `data` to `path` atomically with {@link atomicWrite} (temp + fsync +
 * rename + directory fsync; file created with `mode`, default 0600). Parent
 * directories are created with 0700. If `path` is a symlink the link's target
 * is replaced and the link kept (see {@link resolveWriteTarget}): a docker
 * config.json kept as a link into a dotfiles repository stays a link.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const target = await resolveWriteTarget(path);
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  await atomicWrite(target, data, { mode });
}
