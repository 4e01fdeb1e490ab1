// Builds an OCI image layout (for skopeo's oci: transport) from files, hardlinking blobs.
import { link, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactManifest, imageConfig, MT } from './raw.mjs';
import { sha256 } from './data.mjs';

async function placeBlob(dir, digest, file) {
  const p = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  if (file.data && !file.path) {
    await writeFile(p, file.data);
    return;
  }
  try {
    await link(file.path, p);
  } catch (e) {
    if (e.code === 'EEXIST') return;
    await copyFile(file.path, p);
  }
}

/** Writes `dir` as an OCI layout holding one image manifest with `files` as titled layers, tagged `tag`. */
export async function writeLayout(dir, files, tag = 'v1') {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const f of files) await placeBlob(dir, f.digest, f);
  const config = imageConfig(files);
  await placeBlob(dir, config.descriptor.digest, { data: config.bytes });
  const manifest = artifactManifest(files, config);
  const mbytes = Buffer.from(JSON.stringify(manifest));
  const mdigest = sha256(mbytes);
  await placeBlob(dir, mdigest, { data: mbytes });
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: MT.manifest,
        digest: mdigest,
        size: mbytes.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return { manifest, digest: mdigest };
}
