// Trees the bench is done with on the disk file system are moved aside, not deleted, until the
// run ends (the run's exit handler deletes the whole disk work directory).
//
// Why: this machine's root file system is ext4 without a journal. There the kernel's inode
// allocator skips every free inode that was freed in the last 60 s (360 s while its inode-table
// block is still dirty), with a buffer-cache lookup for each one (fs/ext4/ialloc.c: find_inode_bit
// → recently_deleted, only when the file system has no journal). Each create scans from the start
// of its block group, so after `rm -rf` of 10,000 files every one of the next creates in that
// group pays for the 10,000 freed inodes: a bare loop of 10,000 creates took 0.25 s with no recent
// deletion and 1–4 s after one, almost all system time (perf: find_get_block_common and
// recently_deleted). A teardown that deletes the tree of the run before would bill that to
// whichever tool runs next, ours or a baseline; a rename frees no inode.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Returns `discard(path)`: moves `path` into `trashDir` (created on first use; same file system
 * expected), or deletes it when it cannot be moved there (another file system). A missing path is
 * not an error.
 */
export function makeTrash(trashDir) {
  let n = 0;
  let made = false;
  return async function discard(path) {
    if (!made) {
      await mkdir(trashDir, { recursive: true });
      made = true;
    }
    try {
      await rename(path, join(trashDir, String(n++)));
    } catch (err) {
      if (err?.code === 'ENOENT') return;
      await rm(path, { recursive: true, force: true });
    }
  };
}
