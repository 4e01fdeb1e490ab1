/**
 * Issue 12 item 5: a canary password must never be shown in any encoding the client itself
 * sends or a registry may echo: raw, URL-encoded, form-encoded, base64 of `user:pass` and of
 * the password alone (with and without padding, base64url), hex, JSON-escaped. Covered
 * outputs: `onDebug` lines (request and response headers, whatever their names), error
 * messages and their JSON, and the CLI's error formatting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorJson, formatError } from '../../src/cli/errors.js';
import { isOrasError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { secretEncodings } from '../../src/registry/redact.js';
import { Repository } from '../../src/registry/repository.js';
import { startHostileRegistry, type HostileRegistry } from '../harness/hostile-registry.js';

const USER = 'alice';
const CANARY = 'Canary p@ss/+=ä"x';
const FORMS = [
  CANARY,
  encodeURIComponent(CANARY),
  encodeURIComponent(CANARY).replace(/%20/g, '+'),
  new URLSearchParams({ p: CANARY }).toString().slice(2),
  Buffer.from(CANARY).toString('base64'),
  Buffer.from(CANARY).toString('base64').replace(/=+$/, ''),
  Buffer.from(CANARY).toString('base64url'),
  Buffer.from(CANARY).toString('hex'),
  Buffer.from(CANARY).toString('hex').toUpperCase(),
  JSON.stringify(CANARY).slice(1, -1),
  Buffer.from(`${USER}:${CANARY}`).toString('base64'),
];

let reg: HostileRegistry;
let client: RegistryClient;
const debug: string[] = [];

function assertNoCanary(text: string, where: string): void {
  for (const f of FORMS) expect(text.includes(f), `${where} contains ${JSON.stringify(f)}`).toBe(false);
}

beforeAll(async () => {
  reg = await startHostileRegistry({ basicAuth: { username: USER, password: CANARY } });
  client = new RegistryClient({
    plainHttp: true,
    retry: { maxAttempts: 1 },
    credentials: async () => ({ username: USER, password: CANARY }),
    onDebug: (l) => debug.push(l),
  });
});
afterAll(async () => {
  await client?.close();
  await reg?.close();
});

describe('the canary never appears, in any encoding', () => {
  it('covers every encoding listed in docs/SECURITY.md', () => {
    for (const f of FORMS.slice(0, -1)) expect(secretEncodings(CANARY)).toContain(f);
  });

  it('-d debug lines: a registry echoing the password in innocent response headers gets it redacted', async () => {
    reg.addArtifact([{ data: Buffer.from('x'), title: 'a.txt' }], 'v1');
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'manifest') return false;
      res.writeHead(404, {
        'content-type': 'application/json',
        'x-echo': CANARY.replace(/[^\x20-\x7e]/g, '?') === CANARY ? CANARY : encodeURIComponent(CANARY),
        'x-echo-hex': Buffer.from(CANARY).toString('hex'),
        'x-echo-b64': Buffer.from(CANARY).toString('base64'),
        'x-request-note': `pw=${new URLSearchParams({ p: CANARY }).toString().slice(2)}`,
      });
      res.end(
        JSON.stringify({
          errors: [
            {
              code: 'MANIFEST_UNKNOWN',
              message: `unknown for ${encodeURIComponent(CANARY)} / ${Buffer.from(CANARY).toString('hex')} / ${Buffer.from(CANARY).toString('base64')} / ${JSON.stringify(CANARY).slice(1, -1)}`,
              detail: Buffer.from(CANARY).toString('base64url'),
            },
          ],
        }),
      );
      return true;
    };
    const repo = new Repository({ reference: { registry: reg.host, repository: 'hostile/app' }, client });
    const err = await repo.resolve('v1').then(
      () => undefined,
      (e: unknown) => e,
    );
    reg.intercept = undefined;
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_NOT_FOUND');
    expect(debug.some((l) => l.includes('x-echo-hex: REDACTED'))).toBe(true);
    assertNoCanary(debug.join('\n'), 'debug output');
    // Error texts: message, JSON (registry errors included), and the CLI's rendering.
    assertNoCanary((err as Error).message, 'error message');
    assertNoCanary(JSON.stringify(err), 'error JSON');
    assertNoCanary(formatError(err, { debug: true }), 'CLI error text');
    assertNoCanary(JSON.stringify(errorJson(err)), 'CLI error JSON');
  });

  it('CLI error text and hints built from any text holding an encoded secret are scrubbed', async () => {
    const { OrasError } = await import('../../src/errors.js');
    const e = new OrasError('ERR_ORAS_HTTP', `upstream said ${Buffer.from(CANARY).toString('hex').toUpperCase()}`, {
      hint: `try password=${encodeURIComponent(CANARY)}`,
    });
    assertNoCanary(formatError(e), 'CLI error text');
    assertNoCanary(JSON.stringify(errorJson(e)), 'CLI error JSON');
  });
});
