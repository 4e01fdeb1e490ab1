/** Client certificates (mutual TLS) and extra CAs against a test-owned HTTPS server. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { makeTlsMaterial, type TlsMaterial } from '../harness/certs.js';

const run = promisify(execFile);
let dir: string;
let tls: TlsMaterial;
let server: Server;
let origin: string;
let clientCert: Buffer;
let clientKey: Buffer;
const seenCNs: (string | undefined)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-mtls-'));
  tls = await makeTlsMaterial(dir);
  // a client certificate signed by the same test CA
  await run(
    'openssl',
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'client.key',
      '-out',
      'client.csr',
      '-subj',
      '/CN=oras-test-client',
    ],
    { cwd: dir, timeout: 30_000 },
  );
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      tls.caFile,
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      'client.pem',
      '-days',
      '2',
      '-extfile',
      'client.ext',
    ],
    { cwd: dir, timeout: 30_000 },
  );
  clientCert = await readFile(join(dir, 'client.pem'));
  clientKey = await readFile(join(dir, 'client.key'));
  server = createServer(
    {
      cert: await readFile(tls.certFile),
      key: await readFile(tls.keyFile),
      ca: await readFile(tls.caFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seenCNs.push(typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined);
      res.end('{}');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

it('presents the client certificate (cert/key) and trusts the CA given as a string', async () => {
  const c = new RegistryClient({ ca: await readFile(tls.caFile, 'utf8'), cert: clientCert, key: clientKey });
  try {
    const res = await c.request({ method: 'GET', url: new URL(`${origin}/v2/`), scopes: [] });
    res.body.destroy();
    expect(res.status).toBe(200);
    expect(seenCNs).toEqual(['oras-test-client']);
  } finally {
    await c.close();
  }
});

it('fails without the client certificate', async () => {
  const c = new RegistryClient({ caFile: tls.caFile, retry: { maxAttempts: 1 } });
  try {
    await expect(c.request({ method: 'GET', url: new URL(`${origin}/v2/`), scopes: [] })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_ORAS_NETWORK|ERR_ORAS_HTTP/),
    });
  } finally {
    await c.close();
  }
});

it('a missing caFile is a clear config error', () => {
  expect(() => new RegistryClient({ caFile: join(tmpdir(), 'definitely-missing-ca.pem') })).toThrow(
    expect.objectContaining({ code: 'ERR_ORAS_CONFIG' }),
  );
});
