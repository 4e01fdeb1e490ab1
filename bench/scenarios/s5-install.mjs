// 5. `oras install`: cold, warm cache, no-op; `oras verify` vs sha256sum.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { countFiles } from '../lib/files.mjs';
import { measureGroup } from '../lib/group.mjs';
import { depSet, ensureDeps, installArgs, writeProject } from '../lib/project.mjs';
import { absTimeTarget, ratio, ratioText, row, speedupTarget } from '../lib/rows.mjs';

export const id = '5';
export const title = '`oras install`, `oras verify`';

export async function run(ctx) {
  const cold = depSet(ctx, 'cold');
  const noop = depSet(ctx, 'noop');
  const coldDeps = cold.count;
  const noopDeps = noop.count;
  const noopFiles = noop.count * noop.files;
  const dir = await ctx.mkdir(`s${id}`);
  await ensureDeps(ctx, cold);
  await ensureDeps(ctx, noop);
  const expectFiles = (set) => async (p) => {
    const got = await countFiles(join(p, 'deps'));
    if (got !== set.count * set.files) throw new Error(`installed ${got} files, expected ${set.count * set.files}`);
  };
  const install = (p, c, extra) => ctx.oras(installArgs(p, c, extra), { cwd: p });

  // Warm: one untimed install fills cache W and writes the lockfile used by every warm run.
  const warmSeed = join(dir, 'warm-seed');
  const warmCache = join(dir, 'cache-warm');
  await writeProject(ctx, warmSeed, cold, warmCache);
  await install(warmSeed);
  await expectFiles(cold)(warmSeed);

  const coldP = (i) => join(dir, `cold-${i}`);
  const warmP = (i) => join(dir, `warm-${i}`);
  const r = await measureGroup(
    ctx.runs,
    [
      {
        key: 'cold',
        label: `cold install, ${coldDeps} deps (empty cache, new project)`,
        setup: (i) => writeProject(ctx, coldP(i), cold, join(coldP(i), '..', `cache-cold-${i}`)),
        run: (i) => install(coldP(i)),
        check: (i) => expectFiles(cold)(coldP(i)),
        teardown: async (i) => {
          await rm(coldP(i), { recursive: true, force: true });
          await rm(join(dir, `cache-cold-${i}`), { recursive: true, force: true });
        },
      },
      {
        key: 'warm',
        label: `warm install --offline, ${coldDeps} deps (full cache + lockfile, new project)`,
        setup: (i) => writeProject(ctx, warmP(i), cold, warmCache, { lockFrom: warmSeed }),
        run: (i) => install(warmP(i), undefined, ['--offline']),
        check: (i) => expectFiles(cold)(warmP(i)),
        teardown: async (i) => {
          await rm(warmP(i), { recursive: true, force: true });
        },
      },
    ],
    ctx.log,
  );

  // No-op: a big tree installed once (that install is reported as one sample), then re-run.
  const big = join(dir, 'noop');
  await writeProject(ctx, big, noop, join(dir, 'cache-noop'));
  const first = await measureGroup(
    1,
    [
      {
        key: 'cold',
        label: `cold install, ${noopDeps} deps / ${noopFiles} files (1 run)`,
        run: () => install(big),
        check: () => expectFiles(noop)(big),
      },
    ],
    ctx.log,
  );
  let n;
  if (first.cold.stats) {
    n = await measureGroup(
      ctx.runs,
      [
        {
          key: 'noop',
          label: `no-op install, ${noopDeps} deps / ${noopFiles} files (tree matches)`,
          run: () => install(big),
          check: async (_i, res) => {
            const m = /(\d+) added, (\d+) changed, (\d+) removed/.exec(res.stdout + res.stderr);
            if (m && (m[1] !== '0' || m[2] !== '0' || m[3] !== '0')) throw new Error(`not a no-op: ${m[0]}`);
            await expectFiles(noop)(big);
          },
        },
        {
          key: 'verify',
          label: '`oras verify` of that tree',
          run: () => ctx.oras(['verify', '--project', big, '--no-tty'], { cwd: big }),
        },
        {
          key: 'sha',
          label: '`find deps -type f -print0 | xargs -0 sha256sum`',
          run: () => ctx.cmd('sh', ['-c', 'find deps -type f -print0 | xargs -0 sha256sum > /dev/null'], { cwd: big }),
        },
      ],
      ctx.log,
    );
  } else {
    const e = { error: `setup install failed: ${first.cold.error}` };
    n = { noop: e, verify: e, sha: e };
  }
  const noopRatio = ratio(n.verify, n.noop);
  return {
    setup: `Dependency artifacts: each has random files, one layer per file, tag \`1.0.0\`: the ${coldDeps}-dependency project has ${cold.files} × ${cold.fileSize} B per dependency (${coldDeps * cold.files} files), the ${noopDeps}-dependency tree ${noop.files} × ${noop.fileSize} B (${noopFiles} files); all seeded once straight into the registry's storage (untimed). Each project has \`artifacts.yaml\` (deps under \`deps/<name>\`) and an \`oras.yaml\` (plain HTTP, its own cache dir). Cold: new project + empty cache each run. Warm: new project with the lockfile of an untimed seed install and that install's full cache, run with \`--offline\` (so it provably needs no network). No-op: \`oras install\` again on an installed ${noopDeps}-dependency tree. \`oras install\` runs at its default concurrency.`,
    rows: [
      row(`cold install, ${coldDeps} deps`, r.cold),
      row(`warm install (\`--offline\`), ${coldDeps} deps`, r.warm, {
        ratioText: (() => {
          const x = ratio(r.cold, r.warm);
          return x === null ? '' : `${x.toFixed(1)}× faster than cold`;
        })(),
        target: '≥ 5× faster than cold',
        met: (ratio(r.cold, r.warm) ?? 0) >= 5,
      }),
      row(first.cold.label, first.cold),
      row(`no-op install, ${noopDeps} deps / ${noopFiles} files`, n.noop, {
        ratioText: noopRatio === null ? '' : `${noopRatio.toFixed(1)}× faster than verify`,
        target: '< 0.5 s and ≥ 10× faster than verify',
        met: !!n.noop?.stats && n.noop.stats.median < 500 && (noopRatio ?? 0) >= 10,
      }),
      row(`\`oras verify\`, ${noopFiles} files`, n.verify, {
        ratioText: ratioText(ratio(n.verify, n.sha), 'sha256sum'),
      }),
      row('`find … | xargs -0 sha256sum`', n.sha),
    ],
    targets: [
      speedupTarget(`warm install (${coldDeps} deps) ≥ 5× faster than cold`, r.warm, r.cold, 5, ['warm', 'cold']),
      absTimeTarget(`no-op install of ${noopFiles} files < 0.5 s`, n.noop, 500),
      speedupTarget(`no-op install ≥ 10× faster than \`oras verify\``, n.noop, n.verify, 10, ['no-op', 'verify']),
    ],
  };
}
