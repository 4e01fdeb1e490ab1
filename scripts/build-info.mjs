// Writes dist/build-info.json ({ gitCommit, gitTreeState }) after `tsc`, for `oras version`.
// Outside a git checkout (e.g. an npm tarball) the fields are "unknown".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

function git(args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
const commit = git(['rev-parse', 'HEAD']);
const status = commit === undefined ? undefined : git(['status', '--porcelain', '--untracked-files=no']);
const info = {
  gitCommit: commit ?? 'unknown',
  gitTreeState: status === undefined ? 'unknown' : status === '' ? 'clean' : 'dirty',
};
writeFileSync(new URL('../dist/build-info.json', import.meta.url), JSON.stringify(info, null, 2) + '\n');
