// 7. Many small files in directory layers: cold/warm install vs curl+tar+sync / cp -r+sync for one
//    layer of N files and for 200 dependencies × 50 files, scaling in N (issue 14: cold install of N
//    tiny files used to grow quadratically) and peak RSS.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countFiles } from '../lib/files.mjs';
import { CURL_TAR_ALL, seedDirDeps, seedDirLayer, writeDirProject } from '../lib/dir-layers.mjs';
import { measureGroup, targetRuns } from '../lib/group.mjs';
import { installArgs } from '../lib/project.mjs';
import { ratio, ratioTarget, row, rssTarget, rtext } from '../lib/rows.mjs';

export const id = '7';
export const title = 'Many small files in directory layers (cold, warm, scaling, 200 dependencies)';

const FILE_BYTES = 1024;
const RSS_LIMIT_KIB = 150 * 1024;

/** The measured tools of one project shape: cold install vs curl+tar+sync, warm vs cp -r+sync. */
function coldWarmTools(ctx, { tag, repos, files, list, seedP, cacheDir }) {
  const P = (kind, i) => join(ctx.s7base, `${tag}-${kind}-${i}`);
  // Moved aside, not deleted: see lib/trash.mjs (freed inodes slow the next creates here).
  const clean = (kind) => (i) => ctx.discard(P(kind, i));
  const install = (p, extra) => ctx.oras(installArgs(p, undefined, extra), { cwd: p, timeoutMs: 900_000 });
  const expect = async (p) => {
    const got = await countFiles(join(p, 'deps'));
    if (got !== files) throw new Error(`installed ${got} files, expected ${files}`);
  };
  return {
    cold: (key = 'cold') => ({
      key,
      label: `cold install, ${tag}`,
      setup: (i) => writeDirProject(ctx, join(P('c', i), 'p'), repos, join(P('c', i), 'cache')),
      run: (i) => install(join(P('c', i), 'p')),
      check: (i) => expect(join(P('c', i), 'p')),
      teardown: clean('c'),
      slowMs: 600_000,
    }),
    curltar: {
      key: 'curltar',
      label: `\`curl | tar xzf\` + \`sync\`, ${tag}`,
      setup: (i) => writeDirProject(ctx, P('t', i), [], cacheDir),
      run: (i) => ctx.cmd('bash', ['-c', CURL_TAR_ALL, list, P('t', i)]),
      check: (i) => expect(P('t', i)),
      teardown: clean('t'),
    },
    warm: {
      key: 'warm',
      label: `warm install (\`--offline\`, full cache, new project), ${tag}`,
      setup: (i) => writeDirProject(ctx, P('w', i), repos, cacheDir, seedP),
      run: (i) => install(P('w', i), ['--offline']),
      check: (i) => expect(P('w', i)),
      teardown: clean('w'),
    },
    cp: {
      key: 'cp',
      label: `\`cp -r\` of the installed tree + \`sync\`, ${tag}`,
      run: (i) => ctx.cmd('bash', ['-c', 'cp -r "$0" "$1" && sync', join(seedP, 'deps'), P('cp', i)]),
      teardown: clean('cp'),
    },
    noop: { key: 'noop', label: `no-op install, ${tag}`, run: () => install(seedP) },
    seed: async () => {
      await writeDirProject(ctx, seedP, repos, cacheDir);
      await install(seedP);
    },
  };
}

/** One dependency of N files: seeds, measures cold/warm/no-op against the baselines, then N/4 and 2N. */
async function oneLayer(ctx, nMain) {
  const base = ctx.s7base;
  const sizes = [nMain / 4, nMain, nMain * 2];
  const shapes = {};
  for (const n of sizes) {
    const repo = `bench/dir-${n}`;
    const { layer } = await seedDirLayer(ctx, base, repo, n, FILE_BYTES);
    const list = join(base, `dir-${n}-urls.txt`);
    await writeFile(list, `${ctx.url}/v2/${repo}/blobs/${layer.digest} deps/dir-${n}\n`);
    shapes[n] = coldWarmTools(ctx, {
      tag: `${n} files (one layer)`,
      repos: [repo],
      files: n,
      list,
      seedP: join(base, `seed-${n}`),
      cacheDir: join(base, `cache-${n}`),
    });
  }
  const main = shapes[nMain];
  await main.seed();
  const r = await measureGroup(targetRuns(ctx), [main.cold(), main.curltar, main.warm, main.cp, main.noop], ctx.log);
  // The scaling rows compare N/4, N and 2N measured in one group, run by run, not against the N of
  // the group above: that was measured minutes earlier, before ~200,000 more files were created
  // on this file system, and the host's speed drifts over minutes (bench/analysis.md, round 22).
  const s = await measureGroup(
    ctx.runs,
    [shapes[sizes[0]].cold('small'), main.cold('mid'), shapes[sizes[2]].cold('big')],
    ctx.log,
  );
  return { r, small: s.small, mid: s.mid, big: s.big };
}

export async function run(ctx) {
  const q = ctx.quick;
  ctx.s7base = await ctx.mkdir(`s${id}`, ctx.diskWork);
  const nMain = q ? 1000 : 10_000;
  const nSmall = nMain / 4;
  const nBig = nMain * 2;
  const depCount = q ? 20 : 200;
  const depFiles = 50;
  const { r, small, mid, big } = await oneLayer(ctx, nMain);
  const main = r.cold;

  const deps = await seedDirDeps(ctx, ctx.s7base, 'tree', depCount, depFiles, FILE_BYTES);
  const tree = coldWarmTools(ctx, {
    tag: `${depCount} deps × ${depFiles} files`,
    repos: deps.repos,
    files: depCount * depFiles,
    list: deps.list,
    seedP: join(ctx.s7base, 'seed-tree'),
    cacheDir: join(ctx.s7base, 'cache-tree'),
  });
  await tree.seed();
  const d = await measureGroup(targetRuns(ctx), [tree.cold(), tree.curltar, tree.warm, tree.cp], ctx.log);
  const depTag = `${depCount} deps × ${depFiles}`;
  const x = (a, b) => {
    const v = ratio(a, b);
    return v === null ? '' : `${v.toFixed(2)}×`;
  };
  return {
    setup: `Artifacts whose single layer is a tar+gzip directory (root \`data/\`, annotation \`io.deis.oras.content.unpack\`) of random ${FILE_BYTES} B files, made with \`tar czf\` and seeded straight into the registry's storage: one artifact of N files per size, and a tree of ${depCount} dependencies of ${depFiles} files each. Project **and cache on ${ctx.diskWork} (a disk file system, so fsync costs are real)**, new project + empty cache per cold run. Baselines: \`curl\` of each blob piped into \`tar xzf\` (one dependency after another), then \`sync\` (no verification, no atomic placement); \`cp -r\` of an installed tree then \`sync\`. Warm: new project, lock of an untimed seed install, that install's cache, \`--offline\`. Scaling: cold installs at N/4, N and 2N, interleaved in one group. Peak RSS is of the \`oras\` process. The one-layer group (cold, warm, no-op and their baselines) and the dependency tree's group take ${targetRuns(ctx)} runs each (the scaling rows ${ctx.runs}): their medians decide targets near 3×. Trees are moved aside after their run and deleted only when the bench ends: on a journal-less ext4 (as here), every create scans past the inodes freed in the last 1–6 minutes, so deleting one run's 10,000 files would slow whichever tool runs next (\`bench/lib/trash.mjs\`).`,
    rows: [
      row(`cold install, ${nMain} files`, main, {
        ratioText: rtext(main, r.curltar, 'curl+tar+sync'),
        target: '≤ 3× curl+tar+sync; peak RSS < 150 MiB',
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
      row(`cold install, ${nMain} files (N, in the scaling group)`, mid),
      row(`cold install, ${nBig} files (2N)`, big, {
        ratioText: `N/4 → N: ${x(mid, small)}; N → 2N: ${x(big, mid)}`,
        target: 'N/4 → N ≤ 4.5×; N → 2N ≤ ~2×; peak RSS < 150 MiB',
        met: (ratio(mid, small) ?? 99) <= 4.5 && (ratio(big, mid) ?? 99) <= 2.2,
      }),
      row(`cold install, ${depTag} files`, d.cold, {
        ratioText: rtext(d.cold, d.curltar, 'curl+tar+sync'),
        target: '≤ 3× curl+tar+sync',
        met: (ratio(d.cold, d.curltar) ?? 99) <= 3,
      }),
      row(`\`curl | tar xzf\` × ${depCount} + \`sync\``, d.curltar),
      row(`warm install (\`--offline\`), ${depTag} files`, d.warm, {
        ratioText: rtext(d.warm, d.cp, 'cp -r+sync'),
        target: '≤ 3× cp -r+sync',
        met: (ratio(d.warm, d.cp) ?? 99) <= 3,
      }),
      row(`\`cp -r\` + \`sync\`, ${depTag} files`, d.cp),
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
      ratioTarget(`scaling: cold install of ${nMain} files ≤ 4.5× ${nSmall} files`, mid, small, 4.5, `${nSmall} files`),
      ratioTarget(
        `scaling: cold install of ${nBig} files ≤ ~2× (2.2×) ${nMain} files`,
        big,
        mid,
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
      rssTarget(`peak RSS of the cold install of ${nMain} files < 150 MiB`, main, RSS_LIMIT_KIB),
      rssTarget(`peak RSS of the cold install of ${nBig} files < 150 MiB`, big, RSS_LIMIT_KIB),
      ratioTarget(`cold install of ${depTag} × 1 KiB ≤ 3× curl+tar xzf+sync`, d.cold, d.curltar, 3, 'curl+tar+sync'),
      ratioTarget(`warm install of ${depTag} × 1 KiB ≤ 3× cp -r+sync`, d.warm, d.cp, 3, 'cp -r+sync'),
    ],
  };
}
