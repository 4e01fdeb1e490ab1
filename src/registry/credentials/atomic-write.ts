/** Atomic file replacement for config.json (temp + fsync + rename). */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readlink, realpath, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  throw new OrasError('ERR_ORAS_CONFIG', `${path}: too many levels of symbolic links`, { hint: 'fix the docker config symlink' });
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory
 * (created exclusively with `mode`, default 0600), fsync, rename over the
 * target, fsync of the directory. Parent directories are created with 0700.
 * If `path` is a symlink the link's target is replaced (see {@link resolveWriteTarget}).
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const target = await resolveWriteTarget(path);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // directory fsync is best effort (not supported everywhere)
  }
}
