/**
 * The docker-credential-helpers protocol: `docker-credential-<name> get|store|erase|list`
 * with the request on stdin and JSON on stdout. Every call has a timeout.
 */
import { spawn } from 'node:child_process';
import { OrasError } from '../../errors.js';
import type { Credential } from './types.js';

/** Default helper timeout: 10 s. */
export const DEFAULT_HELPER_TIMEOUT_MS = 10_000;
/** Username a helper returns for an identity token. */
export const TOKEN_USERNAME = '<token>';
const MAX_OUTPUT = 1024 * 1024;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Options for helper calls. */
export interface HelperOptions {
  /** Kill the helper after this many ms (default 10 000). */
  timeoutMs?: number;
  /** Environment of the helper process (default `process.env`, which supplies PATH). */
  env?: NodeJS.ProcessEnv;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function helperError(name: string, action: string, problem: string, cause?: unknown): OrasError {
  return new OrasError(
    'ERR_ORAS_CREDENTIAL_HELPER',
    `credential helper docker-credential-${name} ${action}: ${problem}`,
    {
      ...(cause !== undefined ? { cause } : {}),
      hint: 'check the credsStore / credHelpers entries of your docker config.json and that the helper works (`docker-credential-<name> list`)',
    },
  );
}

/**
 * One line of helper output for an error message (first line, 200 chars, control characters
 * removed). A line that may carry a credential (JSON, or mentioning a secret/password/token)
 * is never quoted: a broken helper may print the credential itself before failing.
 */
function firstLine(s: string): string {
  const line = (s.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').replace(/[\x00-\x1f\x7f]/g, '').slice(0, 200);
  return /[{}"]|secret|passw|token|username/i.test(line) ? '(output not shown: it may contain a credential)' : line;
}

/** True for the helpers' "not found" answers. */
export function isNotFoundOutput(out: string): boolean {
  return /credentials not found|not found in (native )?keychain|no credentials|could not be found|item not found/i.test(
    out,
  );
}

/** Runs `docker-credential-<name> <action>` with `input` on stdin. */
export function runHelper(
  name: string,
  action: 'get' | 'store' | 'erase' | 'list',
  input: string,
  opts: HelperOptions = {},
): Promise<RunResult> {
  if (!NAME_RE.test(name)) return Promise.reject(helperError(name.slice(0, 64), action, 'invalid helper name'));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const child = spawn(`docker-credential-${name}`, [action], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(helperError(name, action, `timed out after ${timeoutMs} ms`)));
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outSize += b.length;
      if (outSize > MAX_OUTPUT) {
        child.kill('SIGKILL');
        finish(() => reject(helperError(name, action, 'output too large')));
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errSize += b.length;
      if (errSize <= 64 * 1024) err.push(b);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          e.code === 'ENOENT'
            ? helperError(name, action, `docker-credential-${name} was not found on PATH`, e)
            : helperError(name, action, `could not be started (${e.code ?? 'error'})`, e),
        ),
      );
    });
    child.on('close', (code) => {
      finish(() =>
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
    });
    child.stdin.on('error', () => undefined); // EPIPE when the helper exits early
    child.stdin.end(input);
  });
}

/**
 * `get`: the credential for `serverUrl`, or undefined when the helper says
 * "credentials not found". A `<token>` username means the secret is an
 * identity token. Throws `ERR_ORAS_CREDENTIAL_HELPER` for a missing helper, a
 * non-zero exit, unparsable output or a timeout.
 */
export async function helperGet(
  name: string,
  serverUrl: string,
  opts: HelperOptions = {},
): Promise<Credential | undefined> {
  const r = await runHelper(name, 'get', serverUrl, opts);
  if (r.code !== 0) {
    if (isNotFoundOutput(r.stdout) || isNotFoundOutput(r.stderr)) return undefined;
    throw helperError(
      name,
      'get',
      `exited with code ${r.code ?? 'signal'}: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    if (isNotFoundOutput(r.stdout)) return undefined;
    throw helperError(name, 'get', 'printed output that is not JSON');
  }
  if (json === null || typeof json !== 'object') throw helperError(name, 'get', 'printed JSON that is not an object');
  const { Username: username, Secret: secret } = json as { Username?: unknown; Secret?: unknown };
  if (typeof secret !== 'string' || (username !== undefined && typeof username !== 'string')) {
    throw helperError(name, 'get', 'printed JSON without a string Secret');
  }
  if (secret === '' && (username === undefined || username === '')) return undefined;
  if (username === TOKEN_USERNAME) return { identityToken: secret };
  return { ...(typeof username === 'string' ? { username } : {}), password: secret };
}

/** `store`: saves a credential (identity tokens as username `<token>`). */
export async function helperStore(
  name: string,
  serverUrl: string,
  cred: Credential,
  opts: HelperOptions = {},
): Promise<void> {
  const identity = cred.identityToken !== undefined && cred.identityToken !== '';
  const payload = JSON.stringify({
    ServerURL: serverUrl,
    Username: identity ? TOKEN_USERNAME : (cred.username ?? ''),
    Secret: identity ? cred.identityToken : (cred.password ?? ''),
  });
  const r = await runHelper(name, 'store', payload, opts);
  if (r.code !== 0)
    throw helperError(
      name,
      'store',
      `exited with code ${r.code ?? 'signal'}: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
    );
}

/** `erase`: removes the credential; "not found" is not an error. */
export async function helperErase(name: string, serverUrl: string, opts: HelperOptions = {}): Promise<void> {
  const r = await runHelper(name, 'erase', serverUrl, opts);
  if (r.code !== 0 && !isNotFoundOutput(r.stdout) && !isNotFoundOutput(r.stderr)) {
    throw helperError(
      name,
      'erase',
      `exited with code ${r.code ?? 'signal'}: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
    );
  }
}

/** `list`: server URL → username. */
export async function helperList(name: string, opts: HelperOptions = {}): Promise<Record<string, string>> {
  const r = await runHelper(name, 'list', '', opts);
  if (r.code !== 0)
    throw helperError(
      name,
      'list',
      `exited with code ${r.code ?? 'signal'}: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
    );
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw helperError(name, 'list', 'printed output that is not JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw helperError(name, 'list', 'printed JSON that is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}
