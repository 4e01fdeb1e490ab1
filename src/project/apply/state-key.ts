import { createHmac, randomBytes, timingSafeEqual, type Hmac } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { OrasError } from '../../errors.js';

/**
 * The per-user secret that authenticates `.oras/state.json`.
 *
 * The state file is a *local cache of facts* ("this machine wrote these bytes
 * at these paths"), never an authority: a state committed to a repository,
 * forged in a pull request or copied from another checkout must not be able
 * to make `install` remove anything. Every state this tool writes therefore
 * carries an HMAC-SHA256 keyed with a random 256-bit secret that lives
 * outside any project, in the user's state directory
 * (`$XDG_STATE_HOME/oras-ts/state-key`, else `~/.local/state/oras-ts/state-key`;
 * directory 0700, file 0600, created on the first state write, never printed).
 * The MAC also binds the state to the project it was written for: the
 * project root's real path, device and inode — a fresh clone (even at the
 * same path) has a new inode, so a state file carried over is not valid
 * there. A state that fails the check is ignored as a whole (the install
 * proceeds as if there were none: files matching the lock are adopted by
 * hash, others are conflicts, nothing is removed).
 */

/** The key file name inside {@link stateKeyDir}. */
export const STATE_KEY_FILE = 'state-key';

/** `$XDG_STATE_HOME/oras-ts` (when absolute), else `~/.local/state/oras-ts` (`HOME` from `env`, else the OS home). */
export function stateKeyDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'oras-ts');
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.local', 'state', 'oras-ts');
}

const keys = new Map<string, Buffer>();

function parseKey(path: string): Buffer {
  const st = lstatSync(path);
  if (!st.isFile()) {
    throw new OrasError('ERR_ORAS_IO', `${path} is not a regular file`, {
      hint: `remove ${path}; a new key is created on the next install (installed files are then re-adopted by hash)`,
    });
  }
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new OrasError('ERR_ORAS_IO', `${path} is not a valid oras-ts state key`, {
      hint: `remove ${path}; a new key is created on the next install (installed files are then re-adopted by hash)`,
    });
  }
  return Buffer.from(text, 'hex');
}

/**
 * The user's state key, or undefined when it does not exist yet and `create`
 * is false (reading never creates it). With `create`, a missing key is made
 * atomically (written to a private temp file, then hard-linked into place, so
 * two concurrent first installs agree on one key). Sync: it runs on the no-op
 * fast path. Memoized per directory for the process.
 */
export function stateKey(env: NodeJS.ProcessEnv, create: boolean): Buffer | undefined {
  const dir = stateKeyDir(env);
  const cached = keys.get(dir);
  if (cached !== undefined) return cached;
  const path = join(dir, STATE_KEY_FILE);
  let key: Buffer | undefined;
  try {
    key = parseKey(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof OrasError) throw err;
      throw new OrasError('ERR_ORAS_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!create) return undefined;
    key = createKey(dir, path);
  }
  keys.set(dir, key);
  return key;
}

function createKey(dir: string, path: string): Buffer {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${STATE_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
    return parseKey(path);
  } catch (err) {
    if (err instanceof OrasError) throw err;
    throw new OrasError('ERR_ORAS_IO', `cannot create the state key ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'make $XDG_STATE_HOME (or ~/.local/state) writable, or point XDG_STATE_HOME at a writable directory',
    });
  }
}

/**
 * What a state is bound to: the project root's real path, device and inode.
 * Undefined when the root cannot be examined (then no state is valid).
 */
export function projectBinding(projectDir: string): string | undefined {
  try {
    const real = realpathSync.native(projectDir);
    const st = statSync(real);
    return `${real}\0${st.dev}\0${st.ino}`;
  } catch {
    return undefined;
  }
}

/** HMAC-SHA256 (hex) over a domain tag, the project binding and the state body `parts`. */
export function stateMac(key: Buffer, binding: string, parts: readonly (string | Buffer)[]): string {
  const h = stateMacHasher(key, binding);
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** The HMAC of {@link stateMac} before the body: feed it the body in pieces, then `digest('hex')`. */
export function stateMacHasher(key: Buffer, binding: string): Hmac {
  const h = createHmac('sha256', key);
  h.update(`oras-ts state v1\0${binding}\0`);
  return h;
}

/** Constant-time comparison of two hex MACs. */
export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
