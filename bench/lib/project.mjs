// Benchmark projects for `oras install`: dependency artifacts in the registry and project dirs.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { randomBytes } from 'node:crypto';
import { sha256 } from './data.mjs';
import { getManifest, pool } from './raw.mjs';
import { seedArtifact } from './seed.mjs';

export const DEP_TAG = '1.0.0';

/**
 * Dependency sets: `cold` (the 50-dependency project of cold/warm/concurrency runs) and `noop`
 * (the 200-dependency / 10,000-file tree). Each dependency is an artifact with `files`
 * random files of `fileSize` bytes, one layer each.
 */
export function depSet(ctx, kind) {
  const s = ctx.sizes;
  return kind === 'cold'
    ? { kind, prefix: 'cold', count: s.coldDeps, files: s.coldFilesPerDep, fileSize: s.coldFileSize }
    : { kind, prefix: 'dep', count: s.noopDeps, files: s.filesPerDep, fileSize: s.depFileSize };
}
export const depName = (set, i) => `${set.prefix}-${String(i).padStart(3, '0')}`;
export const depRepo = (set, i) => `bench/${depName(set, i)}`;

/** Makes sure the set's dependency artifacts exist (seeded straight into the registry's storage). */
export async function ensureDeps(ctx, set) {
  const key = `deps-${set.kind}`;
  if (ctx.shared[key]) return;
  const t0 = Date.now();
  const idx = Array.from({ length: set.count }, (_, k) => k);
  await pool(idx, 4, async (i) => {
    const files = Array.from({ length: set.files }, (_, j) => {
      const data = randomBytes(set.fileSize);
      return { name: `f${String(j).padStart(2, '0')}.bin`, size: data.length, data, digest: sha256(data) };
    });
    await seedArtifact(ctx.registry.storageDir, depRepo(set, i), DEP_TAG, files);
  });
  await getManifest(ctx.agent, ctx.url, depRepo(set, set.count - 1), DEP_TAG);
  ctx.shared[key] = true;
  ctx.log(
    `  seeded ${set.count} dependency artifacts (${set.files} × ${set.fileSize} B each) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/** Writes artifacts.yaml + oras.yaml (plain HTTP, the given cache dir) for the set's dependencies. */
export async function writeProject(ctx, dir, set, cacheDir, { lockFrom } = {}) {
  await mkdir(dir, { recursive: true });
  const dependencies = {};
  for (let i = 0; i < set.count; i++)
    dependencies[depName(set, i)] = {
      ref: `${ctx.host}/${depRepo(set, i)}:${DEP_TAG}`,
      path: `deps/${depName(set, i)}`,
    };
  await writeFile(join(dir, 'artifacts.yaml'), stringify({ dependencies }));
  await writeFile(
    join(dir, 'oras.yaml'),
    stringify({ registries: { [ctx.host]: { plainHttp: true } }, cache: { dir: cacheDir } }),
  );
  if (lockFrom) await copyFile(join(lockFrom, 'artifacts.lock'), join(dir, 'artifacts.lock'));
}

/** `oras install` argv for a project dir. */
export function installArgs(dir, concurrency, extra = []) {
  return [
    'install',
    '--project',
    dir,
    '--no-tty',
    ...(concurrency ? ['--concurrency', String(concurrency)] : []),
    ...extra,
  ];
}
