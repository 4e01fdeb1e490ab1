/**
 * The referrers API path, against a small test-owned in-memory registry (the
 * real distribution 2.8 has no referrers API).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { digestOf } from '../../src/oci/digest.js';
import { EMPTY_DESCRIPTOR, type Descriptor, type ImageManifest } from '../../src/oci/descriptor.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { referrersTag } from '../../src/registry/referrers.js';
import { Repository } from '../../src/registry/repository.js';
import { descOf, faultServer, type FaultServer } from './helpers.js';

const client = new RegistryClient({ retry: { maxAttempts: 1 } });
const servers: FaultServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  await client.close();
});

interface MiniOptions {
  /** How /referrers/ answers: 'api' (paged index, one entry per page), 'empty404' (404 with an index body), or a status. */
  referrers: 'api' | 'empty404' | number;
  ociSubjectHeader: boolean;
}

async function mini(opts: MiniOptions): Promise<{ repo: Repository; log: string[] }> {
  const byDigest = new Map<string, { bytes: Buffer; type: string }>();
  const tags = new Map<string, string>();
  const log: string[] = [];
  const s = await faultServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      log.push(`${req.method} ${url.pathname}${url.search}`);
      const m = /^\/v2\/r\/x\/(manifests|referrers)\/(.+)$/.exec(url.pathname);
      if (!m) {
        res.writeHead(url.pathname === '/v2/' ? 200 : 404);
        res.end();
        return;
      }
      const [, kind, ref = ''] = m;
      if (kind === 'referrers') {
        if (opts.referrers === 'empty404') {
          res.writeHead(404, { 'Content-Type': MediaType.ImageIndex });
          res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }));
          return;
        }
        if (typeof opts.referrers === 'number') {
          res.writeHead(opts.referrers);
          res.end('nope');
          return;
        }
        const all: Descriptor[] = [];
        for (const [digest, { bytes, type }] of byDigest) {
          const doc = JSON.parse(bytes.toString()) as ImageManifest;
          if (doc.subject?.digest === ref)
            all.push({
              mediaType: type,
              digest,
              size: bytes.length,
              ...(doc.artifactType ? { artifactType: doc.artifactType } : {}),
            });
        }
        const page = Number(url.searchParams.get('page') ?? '0');
        const next = page + 1 < all.length ? { Link: `<${url.pathname}?page=${page + 1}>; rel="next"` } : {};
        res.writeHead(200, { 'Content-Type': MediaType.ImageIndex, ...next });
        res.end(
          JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: all.slice(page, page + 1) }),
        );
        return;
      }
      const digest = ref.startsWith('sha256:') ? ref : tags.get(ref);
      if (req.method === 'PUT') {
        const bytes = Buffer.concat(chunks);
        const d = digestOf(bytes);
        byDigest.set(d, { bytes, type: req.headers['content-type'] ?? '' });
        if (!ref.startsWith('sha256:')) tags.set(ref, d);
        const subject = (JSON.parse(bytes.toString()) as ImageManifest).subject;
        res.writeHead(201, {
          'Docker-Content-Digest': d,
          ...(subject && opts.ociSubjectHeader ? { 'OCI-Subject': subject.digest } : {}),
        });
        res.end();
        return;
      }
      const entry = digest !== undefined ? byDigest.get(digest) : undefined;
      if (entry === undefined || digest === undefined) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN' }] }));
        return;
      }
      if (req.method === 'DELETE') {
        byDigest.delete(digest);
        res.writeHead(202);
        res.end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': entry.type,
        'Content-Length': entry.bytes.length,
        'Docker-Content-Digest': digest,
      });
      res.end(req.method === 'HEAD' ? undefined : entry.bytes);
    });
  });
  servers.push(s);
  return { repo: new Repository({ reference: `${s.host}/r/x`, client }), log };
}

function manifest(extra: Partial<ImageManifest> = {}): { desc: Descriptor; bytes: Buffer } {
  const bytes = encodeManifest({
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { ...EMPTY_DESCRIPTOR },
    layers: [],
    annotations: { n: String(Math.random()) },
    ...extra,
  });
  return { desc: descOf(bytes, MediaType.ImageManifest), bytes };
}

describe('referrers API', () => {
  it('uses the API (paged) when available, trusts OCI-Subject on push, filters by artifactType client-side', async () => {
    const { repo, log } = await mini({ referrers: 'api', ociSubjectHeader: true });
    const subject = manifest();
    await repo.push(subject.desc, subject.bytes);
    const a = manifest({ subject: subject.desc, artifactType: 'type/a' });
    const b = manifest({ subject: subject.desc, artifactType: 'type/b' });
    await repo.push(a.desc, a.bytes);
    await repo.push(b.desc, b.bytes);
    expect(log.some((l) => l.includes(referrersTag(subject.desc.digest)))).toBe(false);
    const all = await repo.referrers(subject.desc);
    expect(all.map((d) => d.digest).sort()).toEqual([a.desc.digest, b.desc.digest].sort());
    expect(log.filter((l) => l.includes('/referrers/'))).toHaveLength(2);
    expect((await repo.referrers(subject.desc, { artifactType: 'type/b' })).map((d) => d.digest)).toEqual([
      b.desc.digest,
    ]);
    expect(log.some((l) => l.includes('artifactType=type%2Fb'))).toBe(true);
  });

  it('treats a 404 with an index body as "API available, no referrers"', async () => {
    const { repo, log } = await mini({ referrers: 'empty404', ociSubjectHeader: true });
    const subject = manifest();
    expect(await repo.referrers(subject.desc)).toEqual([]);
    expect(log.some((l) => l.includes(referrersTag(subject.desc.digest)))).toBe(false);
  });

  it('updates the fallback index when the registry does not answer OCI-Subject', async () => {
    const { repo, log } = await mini({ referrers: 'api', ociSubjectHeader: false });
    const subject = manifest();
    const a = manifest({ subject: subject.desc, artifactType: 'type/a' });
    await repo.push(a.desc, a.bytes);
    expect(log).toContain(`PUT /v2/r/x/manifests/${referrersTag(subject.desc.digest)}`);
  });

  it.each([405, 400])('falls back to the tag schema when /referrers/ answers %i, and remembers it', async (status) => {
    const { repo, log } = await mini({ referrers: status, ociSubjectHeader: false });
    const subject = manifest();
    const a = manifest({ subject: subject.desc, artifactType: 'type/a' });
    await repo.push(a.desc, a.bytes);
    expect((await repo.referrers(subject.desc)).map((d) => d.digest)).toEqual([a.desc.digest]);
    expect((await repo.referrers(subject.desc)).map((d) => d.artifactType)).toEqual(['type/a']);
    expect(log.filter((l) => l.includes('/referrers/')).length).toBeLessThanOrEqual(1);
  });
});
