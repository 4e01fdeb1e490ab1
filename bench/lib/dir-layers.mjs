// Artifacts whose single layer is a tar+gzip directory (root `data/`, unpacked on install), and
// projects depending on one or many of them (scenario 7).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { sha256 } from './data.mjs';
import { pool } from './raw.mjs';
import { seedArtifact } from './seed.mjs';

export const DIR_TAG = '1.0.0';

/**
 * Seeds `<repo>:1.0.0` with one tar+gzip directory layer (root `data/`) of `n` random files of
 * `fileBytes` bytes, made with `tar czf`. Returns { tgz, layer } (tgz: the layer's bytes on disk).
 */
export async function seedDirLayer(ctx, base, repo, n, fileBytes) {
  const slug = repo.replace(/[^a-z0-9-]/gi, '_');
  const src = join(base, `src-${slug}`);
  await mkdir(join(src, 'data'), { recursive: true });
  for (let i = 0; i < n; i++)
    await writeFile(join(src, 'data', `f${String(i).padStart(6, '0')}.bin`), randomBytes(fileBytes));
  const tgz = join(base, `${slug}.tar.gz`);
  execFileSync('tar', ['czf', tgz, '-C', src, 'data']);
  const data = await readFile(tgz);
  const layer = {
    name: 'data',
    size: data.length,
    data,
    digest: sha256(data),
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    annotations: { 'io.deis.oras.content.unpack': 'true' },
  };
  await seedArtifact(ctx.registry.storageDir, repo, DIR_TAG, [layer]);
  await ctx.discard(src);
  return { tgz, layer };
}

/**
 * Seeds `count` dependencies `<prefix>-NNN` of `files` × `fileBytes` each (one directory layer
 * per dependency) and writes `urls.txt` in `base` for the curl baseline: one line per dependency,
 * "<blob url> <dir relative to the target>". Returns { repos, list }.
 */
export async function seedDirDeps(ctx, base, prefix, count, files, fileBytes) {
  const repos = Array.from({ length: count }, (_, i) => `bench/${prefix}-${String(i).padStart(3, '0')}`);
  const seeds = new Array(count);
  await pool(
    repos.map((_, i) => i),
    4,
    async (i) => {
      seeds[i] = await seedDirLayer(ctx, base, repos[i], files, fileBytes);
      await rm(seeds[i].tgz, { force: true });
    },
  );
  const list = join(base, `${prefix}-urls.txt`);
  const lines = repos.map((r, i) => `${ctx.url}/v2/${r}/blobs/${seeds[i].layer.digest} ${depDir(r)}`);
  await writeFile(list, `${lines.join('\n')}\n`);
  return { repos, list };
}

/** The project path of a dependency repo (`deps/<name>`). */
export const depDir = (repo) => `deps/${repo.slice(repo.lastIndexOf('/') + 1)}`;

/**
 * Writes artifacts.yaml (one dependency per repo, at {@link depDir}) and oras.yaml (plain HTTP,
 * `cacheDir`); copies the lock of `lockFrom` when given.
 */
export async function writeDirProject(ctx, dir, repos, cacheDir, lockFrom) {
  await mkdir(dir, { recursive: true });
  const dependencies = {};
  for (const r of repos)
    dependencies[r.slice(r.lastIndexOf('/') + 1)] = { ref: `${ctx.host}/${r}:${DIR_TAG}`, path: depDir(r) };
  await writeFile(join(dir, 'artifacts.yaml'), stringify({ dependencies }));
  await writeFile(
    join(dir, 'oras.yaml'),
    stringify({ registries: { [ctx.host]: { plainHttp: true } }, cache: { dir: cacheDir } }),
  );
  if (lockFrom) await writeFile(join(dir, 'artifacts.lock'), await readFile(join(lockFrom, 'artifacts.lock')));
}

/**
 * The curl baseline for many dependencies: for each line of `list`, `curl` the blob into
 * `tar xzf` in its own directory under `target` (one after another), then `sync`.
 */
export const CURL_TAR_ALL = `set -o pipefail; cd "$1" && while read -r url dir; do mkdir -p "$dir" && curl -sSf "$url" | tar xzf - -C "$dir" || exit 1; done < "$0" && sync`;
