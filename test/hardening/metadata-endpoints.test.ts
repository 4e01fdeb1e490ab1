/**
 * Issue 12 item 7: the "never link-local / cloud metadata" rule for redirects, upload
 * Locations and token realms, in every form a host may take: IPv4 in decimal/hex/octal/short
 * forms, IPv4 link-local inside IPv6 (mapped, compatible, NAT64, 6to4), fe80::/10,
 * fd00:ec2::254, the metadata names, and names that only *resolve* to such an address
 * (checked at connect time with the client's resolver). Nothing here connects anywhere but
 * 127.0.0.1: the resolver maps test names, and a refused connection is never attempted.
 */
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { isMetadataHost, type LookupFunction } from '../../src/registry/auth/metadata-hosts.js';
import { vetRedirect } from '../../src/registry/auth/origin-policy.js';
import { isLinkLocalHost, validateRealm } from '../../src/registry/auth/realm.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import {
  startHostileRegistry,
  startRecordingServer,
  type HostileRegistry,
  type RecordingServer,
} from '../harness/hostile-registry.js';

const FORMS = [
  '169.254.169.254',
  '0xa9fea9fe',
  '2852039166',
  '169.254.43518',
  '0251.0376.0251.0376',
  '0xa9.0xfe.0xa9.0xfe',
  '[::ffff:169.254.169.254]',
  '[::ffff:a9fe:a9fe]',
  '[::a9fe:a9fe]',
  '[0:0:0:0:0:ffff:a9fe:a9fe]',
  '[64:ff9b::a9fe:a9fe]',
  '[2002:a9fe:a9fe::1]',
  '[fe80::1]',
  '[febf::1]',
  '[fd00:ec2::254]',
  'metadata.google.internal',
  'METADATA.google.internal.',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  '100.100.100.200',
];
const FINE = [
  '127.0.0.1',
  'registry.example.com',
  '[::1]',
  '[fec0::1]',
  '169.255.0.1',
  '[::ffff:7f00:1]',
  'metadata.example.com',
  '10.0.0.1',
];

describe('isLinkLocalHost / isMetadataHost: every form', () => {
  it.each(FORMS)('%s is refused', (host) => {
    expect(isMetadataHost(host)).toBe(true);
    // The policy function the redirect/realm/upload checks call, with the hostname the URL parser produces.
    expect(isLinkLocalHost(new URL(`http://${host}/`).hostname)).toBe(true);
  });
  it.each(FINE)('%s is allowed', (host) => {
    expect(isLinkLocalHost(new URL(`http://${host}/`).hostname)).toBe(false);
  });
});

describe('redirects, realms and upload Locations use the rule', () => {
  it.each(FORMS)('a redirect to http://%s/ is refused (ERR_ORAS_INSECURE)', (host) => {
    let err: unknown;
    try {
      vetRedirect(new URL('http://127.0.0.1:5000/v2/a/blobs/sha256:x'), `http://${host}/latest/meta-data/`, 307, false);
    } catch (e) {
      err = e;
    }
    expect(isOrasError(err) && err.code).toBe('ERR_ORAS_INSECURE');
  });
  it.each(FORMS)('a token realm on %s is refused (ERR_ORAS_INSECURE)', (host) => {
    let err: unknown;
    try {
      validateRealm(`http://${host}/token`, '127.0.0.1:5000', true);
    } catch (e) {
      err = e;
    }
    expect(isOrasError(err) && err.code).toBe('ERR_ORAS_INSECURE');
  });
});

describe('names that resolve to a link-local address (connect-time check)', () => {
  let reg: HostileRegistry;
  let foreign: RecordingServer;
  const clients: RegistryClient[] = [];
  // A resolver like curl --resolve: test names only, everything else fails (no network here).
  const names = new Map<string, string>([
    ['meta-alias.test', '169.254.169.254'],
    ['meta6-alias.test', 'fe80::a9fe'],
    ['cdn.test', '127.0.0.1'],
    ['registry-alias.test', '127.0.0.1'],
  ]);
  const lookup: LookupFunction = (hostname, options, callback) => {
    const address = names.get(hostname);
    if (address === undefined)
      return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    const family = address.includes(':') ? 6 : 4;
    if (options.all === true) return callback(null, [{ address, family } satisfies LookupAddress]);
    callback(null, address, family);
  };
  const repoVia = (registryHost: string): Repository => {
    const client = new RegistryClient({ plainHttp: true, lookup, retry: { maxAttempts: 1 } });
    clients.push(client);
    return new Repository({ reference: { registry: registryHost, repository: 'hostile/app' }, client });
  };

  beforeAll(async () => {
    reg = await startHostileRegistry();
    foreign = await startRecordingServer((_req, res) => res.end('x'));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await reg?.close();
    await foreign?.close();
  });

  it('the resolver is used: a registry reached by a name that resolves to 127.0.0.1 works, and so does a redirect to a CDN name', async () => {
    const data = Buffer.from('x');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'alias');
    const port = new URL(foreign.url).port;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== manifest.layers[0]!.digest) return false;
      res.writeHead(307, { location: `http://cdn.test:${port}/blob` });
      res.end();
      return true;
    };
    const r = repoVia(`registry-alias.test:${new URL(reg.url).port}`);
    const stream = await r.fetch(manifest.layers[0]!);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('x');
    expect(foreign.requests.length).toBe(1);
    reg.intercept = undefined;
  });

  it.each(['meta-alias.test', 'meta6-alias.test'])(
    'a blob redirect to %s (resolving to link-local) is refused before connecting (ERR_ORAS_INSECURE)',
    async (name) => {
      const data = Buffer.from('y');
      const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], `meta-${name}`);
      reg.intercept = (_req, res, route) => {
        if (route.kind !== 'blob' || route.reference !== manifest.layers[0]!.digest) return false;
        res.writeHead(307, { location: `http://${name}/latest/meta-data/iam/security-credentials/` });
        res.end();
        return true;
      };
      const err = await repoVia(reg.host)
        .fetch(manifest.layers[0]!)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      reg.intercept = undefined;
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_INSECURE');
      expect(String((err as Error).message)).toMatch(/link-local|metadata/);
    },
  );
});
