// 7. Many small files in ONE directory layer: cold/warm install vs curl+tar+sync / cp -r+sync,
//    and scaling in N (issue 14: cold install of N tiny files used to grow quadratically).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { sha256 } from '../lib/data.mjs';
import { countFiles } from '../lib/files.mjs';
import { measureGroup } from '../lib/group.mjs';
import { installArgs } from '../lib/project.mjs';
import { ratio, ratioTarget, row, rtext } from '../lib/rows.mjs';
import { seedArtifact } from '../lib/seed.mjs';

export const id = '7';
export const title = 'Many small files in one directory layer (cold, warm, scaling)';

const TAG = '1.0.0';
const FILE_BYTES = 1024;

/** Seeds `bench/dir-<n>:1.0.0`: one tar+gzip directory layer (root `data/`) of n random 1 KiB files. */
async function seedDirLayer(ctx, base, n) {
  const src = join(base, `src-${n}`);
  await mkdir(join(src, 'data'), { recursive: true });
  for (let i = 0; i < n; i++)
    await writeFile(join(src, 'data', `f${String(i).padStart(6, '0')}.bin`), randomBytes(FILE_BYTES));
  const tgz = join(base, `dir-${n}.tar.gz`);
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
  await seedArtifact(ctx.registry.storageDir, `bench/dir-${n}`, TAG, [layer]);
  await rm(src, { recursive: true, force: true });
  return { tgz, layer };
}

async function writeDirProject(ctx, dir, n, cacheDir, lockFrom) {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'artifacts.yaml'),
    stringify({ dependencies: { big: { ref: `${ctx.host}/bench/dir-${n}:${TAG}`, path: 'deps/big' } } }),
  );
  await writeFile(
    join(dir, 'oras.yaml'),
    stringify({ registries: { [ctx.host]: { plainHttp: true } }, cache: { dir: cacheDir } }),
  );
  if (lockFrom) await writeFile(join(dir, 'artifacts.lock'), await readFile(join(lockFrom, 'artifacts.lock')));
}

export async function run(ctx) {
  const q = ctx.quick;
  const base = await ctx.mkdir(`s${id}`, ctx.diskWork);
  const nMain = q ? 1000 : 10_000;
  const nSmall = nMain / 4;
  const nBig = nMain * 2;
  const seeds = {};
  for (const n of [nSmall, nMain, nBig]) seeds[n] = await seedDirLayer(ctx, base, n);
  const install = (p, extra) => ctx.oras(installArgs(p, undefined, extra), { cwd: p, timeoutMs: 900_000 });
  const expect = (n) => async (p) => {
    const got = await countFiles(join(p, 'deps', 'big'));
    if (got !== n) throw new Error(`installed ${got} files, expected ${n}`);
  };
  const P = (tag, i) => join(base, `${tag}-${i}`);
  const clean = (tag) => async (i) => {
    await rm(P(tag, i), { recursive: true, force: true });
  };
  const cold = (n) => ({
    key: `cold${n}`,
    label: `cold install, ${n} files`,
    setup: (i) => writeDirProject(ctx, join(P(`c${n}`, i), 'p'), n, join(P(`c${n}`, i), 'cache')),
    run: (i) => install(join(P(`c${n}`, i), 'p')),
    check: (i) => expect(n)(join(P(`c${n}`, i), 'p')),
    teardown: clean(`c${n}`),
    slowMs: 600_000,
  });

  // Warm seed: one untimed install fills a cache and writes the lock the warm runs use.
  const seedP = join(base, 'warm-seed');
  await writeDirProject(ctx, seedP, nMain, join(base, 'warm-cache'));
  await install(seedP);
  const installed = join(seedP, 'deps');

  const layerUrl = `${ctx.url}/v2/bench/dir-${nMain}/blobs/${seeds[nMain].layer.digest}`;
  const r = await measureGroup(
    ctx.runs,
    [
      cold(nMain),
      {
        key: 'curltar',
        label: `curl blob | tar xzf + sync, ${nMain} files`,
        setup: (i) => mkdir(P('t', i), { recursive: true }),
        run: (i) => ctx.cmd('bash', ['-c', `curl -sSf "$0" | tar xzf - -C "$1" && sync`, layerUrl, P('t', i)]),
        teardown: clean('t'),
      },
      {
        key: 'warm',
        label: `warm install (\`--offline\`, full cache, new project), ${nMain} files`,
        setup: (i) => writeDirProject(ctx, P('w', i), nMain, join(base, 'warm-cache'), seedP),
        run: (i) => install(P('w', i), ['--offline']),
        check: (i) => expect(nMain)(P('w', i)),
        teardown: clean('w'),
      },
      {
        key: 'cp',
        label: `cp -r of the installed tree + sync, ${nMain} files`,
        run: (i) => ctx.cmd('bash', ['-c', 'cp -r "$0" "$1" && sync', installed, P('cp', i)]),
        teardown: clean('cp'),
      },
      { key: 'noop', label: `no-op install, ${nMain} files`, run: () => install(seedP) },
    ],
    ctx.log,
  );
  const s = await measureGroup(ctx.runs, [cold(nSmall), cold(nBig)], ctx.log);
  const small = s[`cold${nSmall}`];
  const main = r[`cold${nMain}`];
  const big = s[`cold${nBig}`];
  const x = (a, b) => {
    const v = ratio(a, b);
    return v === null ? '' : `${v.toFixed(2)}×`;
  };
  return {
    setup: `One artifact per size with a single tar+gzip directory layer (root \`data/\`, annotation \`io.deis.oras.content.unpack\`) of N random ${FILE_BYTES} B files, made with \`tar czf\` and seeded straight into the registry's storage. Project **and cache on ${ctx.diskWork} (a disk file system, so fsync costs are real)**, new project + empty cache per cold run. Baselines: \`curl\` of the same blob piped into \`tar xzf\` then \`sync\` (no verification, no atomic placement); \`cp -r\` of an installed tree then \`sync\`. Warm: new project, lock of an untimed seed install, that install's cache, \`--offline\`. Scaling: cold installs at N/4, N, 2N.`,
    rows: [
      row(`cold install, ${nMain} files`, main, {
        ratioText: rtext(main, r.curltar, 'curl+tar+sync'),
        target: '≤ 3× curl+tar+sync',
        met: (ratio(main, r.curltar) ?? 99) <= 3,
      }),
      row(`\`curl | tar xzf\` + \`sync\`, ${nMain} files`, r.curltar),
      row(`warm install (\`--offline\`), ${nMain} files`, r.warm, {
        ratioText: rtext(r.warm, r.cp, 'cp -r+sync'),
        target: '≤ 3× cp -r+sync',
        met: (ratio(r.warm, r.cp) ?? 99) <= 3,
      }),
      row(`\`cp -r\` + \`sync\`, ${nMain} files`, r.cp),
      row(`no-op install, ${nMain} files`, r.noop, {
        target: '< 0.5 s',
        met: !!r.noop?.stats && r.noop.stats.median < 500,
      }),
      row(`cold install, ${nSmall} files (N/4)`, small),
      row(`cold install, ${nBig} files (2N)`, big, {
        ratioText: `N/4 → N: ${x(main, small)}; N → 2N: ${x(big, main)}`,
        target: 'N/4 → N ≤ 4.5×; N → 2N ≤ ~2×',
        met: (ratio(main, small) ?? 99) <= 4.5 && (ratio(big, main) ?? 99) <= 2.2,
      }),
    ],
    targets: [
      ratioTarget(
        `cold install of ${nMain} × 1 KiB (one layer) ≤ 3× curl+tar xzf+sync`,
        main,
        r.curltar,
        3,
        'curl+tar+sync',
      ),
      ratioTarget(`warm install of ${nMain} × 1 KiB ≤ 3× cp -r+sync`, r.warm, r.cp, 3, 'cp -r+sync'),
      ratioTarget(
        `scaling: cold install of ${nMain} files ≤ 4.5× ${nSmall} files`,
        main,
        small,
        4.5,
        `${nSmall} files`,
      ),
      ratioTarget(
        `scaling: cold install of ${nBig} files ≤ ~2× (2.2×) ${nMain} files`,
        big,
        main,
        2.2,
        `${nMain} files`,
      ),
      {
        text: `no-op install of ${nMain} files (one layer) < 0.5 s`,
        met: !!r.noop?.stats && r.noop.stats.median < 500,
        detail: r.noop?.stats
          ? `median ${r.noop.stats.median.toFixed(0)} ms`
          : `cannot compute: ${r.noop?.error ?? 'missing'}`,
      },
    ],
  };
}
