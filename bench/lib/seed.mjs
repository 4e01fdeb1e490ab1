// Fast, untimed fixture seeding: writes blobs, manifests and tags straight into the registry's
// filesystem storage (distribution's on-disk layout), bypassing its HTTP API. Pushing 10,000
// small fixture blobs through the API costs minutes of registry CPU on a 2-core machine; the
// registry serves seeded content exactly like pushed content (it reads the same files).
import { link, mkdir, writeFile, copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactManifest, imageConfig } from './raw.mjs';
import { sha256 } from './data.mjs';

const hexOf = (digest) => digest.slice('sha256:'.length);

function root(storageDir) {
  return join(storageDir, 'docker', 'registry', 'v2');
}

async function writeLink(path, digest) {
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'link'), digest);
}

/** Puts blob content (Buffer `data`, or hardlinks/copies file `path`) into global blob storage. */
async function putBlobData(storageDir, digest, { data, path }) {
  const hex = hexOf(digest);
  const dir = join(root(storageDir), 'blobs', 'sha256', hex.slice(0, 2), hex);
  const target = join(dir, 'data');
  try {
    await stat(target);
    return;
  } catch {
    /* missing */
  }
  await mkdir(dir, { recursive: true });
  if (data) {
    await writeFile(target, data);
    return;
  }
  try {
    await link(path, target);
  } catch {
    await copyFile(path, target);
  }
}

/** Links `digest` as a layer of `repo` (what a blob upload does). */
async function linkLayer(storageDir, repo, digest) {
  await writeLink(join(root(storageDir), 'repositories', repo, '_layers', 'sha256', hexOf(digest)), digest);
}

/**
 * Seeds `repo:tag` with an image manifest of titled layers (`files`: {name, size, digest, data | path}),
 * the same shape raw.pushArtifact pushes. Returns { manifest, digest, size }.
 */
export async function seedArtifact(storageDir, repo, tag, files) {
  for (const f of files) {
    await putBlobData(storageDir, f.digest, f);
    await linkLayer(storageDir, repo, f.digest);
  }
  const config = imageConfig(files);
  await putBlobData(storageDir, config.descriptor.digest, { data: config.bytes });
  await linkLayer(storageDir, repo, config.descriptor.digest);
  const manifest = artifactManifest(files, config);
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(bytes);
  await putBlobData(storageDir, digest, { data: bytes });
  const m = join(root(storageDir), 'repositories', repo, '_manifests');
  await writeLink(join(m, 'revisions', 'sha256', hexOf(digest)), digest);
  await writeLink(join(m, 'tags', tag, 'current'), digest);
  await writeLink(join(m, 'tags', tag, 'index', 'sha256', hexOf(digest)), digest);
  return { manifest, digest, size: bytes.length };
}

/** Only the blob (global storage + a link in `repo`), like a finished blob upload. */
export async function seedBlob(storageDir, repo, file) {
  await putBlobData(storageDir, file.digest, file);
  await linkLayer(storageDir, repo, file.digest);
}
