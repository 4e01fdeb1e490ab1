// A minimal raw OCI distribution client on undici, used (a) to set up benchmark data without
// depending on the library under test and (b) as the "registry floor" baseline.
import { createReadStream } from 'node:fs';
import { Agent, request } from 'undici';
import { sha256 } from './data.mjs';

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  title: 'org.opencontainers.image.title',
};

export function newAgent(connections = 16) {
  return new Agent({ connections, keepAliveTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
}

async function req(dispatcher, url, opts = {}) {
  const res = await request(url, { dispatcher, ...opts });
  return res;
}

async function expect(res, codes, what) {
  if (!codes.includes(res.statusCode)) {
    const text = await res.body.text().catch(() => '');
    throw new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
  }
}

/** HEAD a blob; true when the repository has it. */
export async function blobExists(d, base, repo, digest) {
  const res = await req(d, `${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.body.dump();
  return res.statusCode === 200;
}

/** POST + PUT (two-step upload); `body` is a Buffer or a () => Readable factory. */
export async function uploadBlob(d, base, repo, digest, size, body) {
  const post = await req(d, `${base}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { 'content-length': '0' },
  });
  await expect(post, [202], `POST upload ${repo}`);
  await post.body.dump();
  const loc = post.headers.location;
  if (typeof loc !== 'string') throw new Error('no Location');
  const u = new URL(loc, base);
  u.searchParams.set('digest', digest);
  const put = await req(d, u.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: typeof body === 'function' ? body() : body,
  });
  await expect(put, [201], `PUT blob ${digest}`);
  await put.body.dump();
}

/** HEAD, then upload when missing. Returns true when it uploaded. */
export async function pushBlob(d, base, repo, digest, size, body) {
  if (await blobExists(d, base, repo, digest)) return false;
  await uploadBlob(d, base, repo, digest, size, body);
  return true;
}

export async function pushFileBlob(d, base, repo, file) {
  return pushBlob(d, base, repo, file.digest, file.size, () => createReadStream(file.path, { highWaterMark: 1 << 20 }));
}

export async function putManifest(d, base, repo, ref, manifest) {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const res = await req(d, `${base}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { 'content-type': manifest.mediaType ?? MT.manifest },
    body: bytes,
  });
  await expect(res, [201], `PUT manifest ${repo}:${ref}`);
  await res.body.dump();
  return { digest: sha256(bytes), size: bytes.length, bytes };
}

export async function getManifest(d, base, repo, ref) {
  const res = await req(d, `${base}/v2/${repo}/manifests/${ref}`, { headers: { accept: MT.manifest } });
  await expect(res, [200], `GET manifest ${repo}:${ref}`);
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { bytes, manifest: JSON.parse(bytes.toString('utf8')) };
}

export async function deleteBlob(d, base, repo, digest) {
  const res = await req(d, `${base}/v2/${repo}/blobs/${digest}`, { method: 'DELETE' });
  await expect(res, [202, 404], `DELETE blob ${digest}`);
  await res.body.dump();
}

/** A minimal valid OCI image config for `layers` (uncompressed, so diff_id = digest). */
export function imageConfig(layers) {
  const cfg = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  };
  const bytes = Buffer.from(JSON.stringify(cfg));
  return { bytes, descriptor: { mediaType: MT.config, digest: sha256(bytes), size: bytes.length } };
}

/**
 * Builds an image manifest whose layers carry title annotations, so it is both an ORAS
 * artifact (`oras pull` writes each titled layer) and an image skopeo can copy.
 */
export function artifactManifest(files, config) {
  return {
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: config.descriptor,
    layers: files.map((f) => ({
      mediaType: f.mediaType ?? MT.layer,
      digest: f.digest,
      size: f.size,
      annotations: { [MT.title]: f.name, ...(f.annotations ?? {}) },
    })),
  };
}

/** Pushes `files` ({name,size,digest, data? | path}) + config + manifest to `repo:tag` at `concurrency`. */
export async function pushArtifact(d, base, repo, tag, files, concurrency = 8) {
  const config = imageConfig(files);
  await pool(files, concurrency, (f) =>
    f.data ? pushBlob(d, base, repo, f.digest, f.size, f.data) : pushFileBlob(d, base, repo, f),
  );
  await pushBlob(d, base, repo, config.descriptor.digest, config.bytes.length, config.bytes);
  const manifest = artifactManifest(files, config);
  const m = await putManifest(d, base, repo, tag, manifest);
  return { manifest, config, ...m };
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool(items, n, fn) {
  let next = 0;
  const results = new Array(items.length);
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}
