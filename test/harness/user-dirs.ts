/**
 * vitest setupFiles (unit and integration): the user-level oras-ts files that
 * in-process library calls create — the state key (`$XDG_STATE_HOME/oras-ts`)
 * and the config trust store (`$XDG_CONFIG_HOME/oras-ts`) — go to a temp dir
 * per test file, removed afterwards, never to the real home directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'oras-ts-user-'));
process.env.XDG_STATE_HOME = join(dir, 'state');
process.env.XDG_CONFIG_HOME = join(dir, 'config');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
