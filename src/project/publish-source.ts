import type { Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import type { FileIdentity } from '../oci/file-identity.js';
import { join } from 'node:path';
import { OrasError } from '../errors.js';

/**
 * Checks one non-glob `publish.<name>.files` path before it is packed: every
 * component from the project root down (the path itself included) is read
 * with `lstat`, and a symlink anywhere — the file, or any parent directory —
 * is refused with `ERR_ORAS_PATH_TRAVERSAL` unless the entry says
 * `followSymlinks: true` (a symlinked file or parent can point anywhere, e.g.
 * at `~/.ssh/id_ed25519`, and publishing would upload it). The path must end
 * at a regular file or a directory (packed as tar+gzip, its inner symlinks
 * stored as symlinks, never followed); FIFOs, sockets and devices are refused
 * regardless. Missing paths fail with `ERR_ORAS_IO`. `rel` is a normalized
 * project-relative POSIX path.
 *
 * Returns the identity (device + inode) of what was checked, undefined with
 * `followSymlinks`: `packArtifact` reads only that file (`identity` of its
 * input), so swapping a checked component for a symlink between this check
 * and the read is refused instead of uploading what the link points to.
 */
export async function assertPublishSource(
  projectDir: string,
  rel: string,
  options: { followSymlinks?: boolean } = {},
): Promise<FileIdentity | undefined> {
  const where = `publish file ${JSON.stringify(rel)}`;
  let cur = projectDir;
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i] as string);
    let st;
    try {
      st = await lstat(cur);
    } catch {
      throw new OrasError('ERR_ORAS_IO', `${where} does not exist in the project`, {
        hint: 'fix the path in artifacts.yaml, or create the file',
      });
    }
    if (st.isSymbolicLink()) {
      if (options.followSymlinks === true) return void (await assertFinalKind(cur, where));
      const which =
        i === parts.length - 1
          ? 'is a symlink'
          : `goes through the symlink ${JSON.stringify(parts.slice(0, i + 1).join('/'))}`;
      throw new OrasError(
        'ERR_ORAS_PATH_TRAVERSAL',
        `${where} ${which}; publish reads only regular files inside the project`,
        {
          hint: 'publish the real file, or set followSymlinks: true on this entry in artifacts.yaml if you mean to publish what the link points to',
        },
      );
    }
    if (i < parts.length - 1 && !st.isDirectory())
      throw new OrasError(
        'ERR_ORAS_IO',
        `${where}: ${JSON.stringify(parts.slice(0, i + 1).join('/'))} is not a directory`,
        { hint: 'fix the path in artifacts.yaml' },
      );
  }
  const st = await assertFinalKind(cur, where);
  return { dev: st.dev, ino: st.ino };
}

/** The path (followed) must be a regular file or a directory. */
async function assertFinalKind(abs: string, where: string): Promise<Stats> {
  const st = await stat(abs).catch(() => undefined);
  if (st === undefined)
    throw new OrasError('ERR_ORAS_IO', `${where} does not exist (dangling symlink?)`, {
      hint: 'fix the path in artifacts.yaml',
    });
  if (!st.isFile() && !st.isDirectory()) {
    throw new OrasError(
      'ERR_ORAS_UNSUPPORTED',
      `${where} is not a regular file or directory (a FIFO, socket or device)`,
      { hint: 'publish only regular files and directories' },
    );
  }
  return st;
}
