// 4. Peak RSS of `oras pull` / `oras push` at 4 GiB (and 1 GiB: memory must not grow with size).
import { readFileSync, statfsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fmtBytes, GiB, MiB, writeRandomFile } from '../lib/data.mjs';
import { measureGroup } from '../lib/group.mjs';
import { blobExists, deleteBlob, getManifest } from '../lib/raw.mjs';
import { seedArtifact } from '../lib/seed.mjs';
import { fmtMiB } from '../lib/report.mjs';
import { rssTarget, throughput } from '../lib/rows.mjs';

export const id = '4';
export const title = 'Peak memory (RSS) of push and pull';

function memAvailable() {
  const m = /MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Where to put `size`-byte source and output files: the data dir when RAM-backed space allows, else disk. */
function placeFor(ctx, size) {
  try {
    const s = statfsSync(ctx.work);
    const free = s.bavail * s.bsize;
    const ramBacked = ctx.work.startsWith('/dev/shm');
    // Source (hardlinked into the registry's storage, so one copy) + the pulled copy.
    const need = 2 * size + 2 * GiB;
    if (free >= need && (!ramBacked || memAvailable() >= need + 4 * GiB)) return ctx.work;
  } catch {
    /* fall through */
  }
  return ctx.diskWork;
}

async function measureSize(ctx, size, tag) {
  const base = placeFor(ctx, size);
  const dir = join(base, `s${id}`, tag);
  await mkdir(dir, { recursive: true });
  ctx.log(` ${fmtBytes(size)} in ${base}`);
  const src = await writeRandomFile(join(dir, `${tag}.bin`), size);
  const file = { name: `${tag}.bin`, ...src };
  const seedRepo = `bench/rss-${tag}`;
  await seedArtifact(ctx.registry.storageDir, seedRepo, 'v1', [file]); // hardlink, untimed
  await getManifest(ctx.agent, ctx.url, seedRepo, 'v1');
  const repoOf = (i) => `bench/rss-${tag}-push-${i}`;
  const out = join(dir, 'out');
  const tools = [
    {
      key: 'push',
      label: `\`oras push\` ${fmtBytes(size)}`,
      run: (i) => ctx.oras(['push', '--plain-http', '--no-tty', ctx.ref(repoOf(i), 'v1'), file.name], { cwd: dir }),
      check: async (i) => {
        if (!(await blobExists(ctx.agent, ctx.url, repoOf(i), src.digest))) throw new Error('blob missing after push');
      },
      teardown: async (i) => {
        await deleteBlob(ctx.agent, ctx.url, repoOf(i), src.digest);
      },
    },
    {
      key: 'pull',
      label: `\`oras pull\` ${fmtBytes(size)}`,
      setup: async () => {
        await rm(out, { recursive: true, force: true });
      },
      run: () => ctx.oras(['pull', '--plain-http', '--no-tty', '-o', out, ctx.ref(seedRepo, 'v1')]),
      teardown: async () => {
        await rm(out, { recursive: true, force: true });
      },
    },
  ];
  const r = await measureGroup(Math.max(1, Number(process.env.BENCH_RSS_RUNS) || 1), tools, ctx.log);
  await rm(dir, { recursive: true, force: true });
  return { ...r, base };
}

export async function run(ctx) {
  const huge = ctx.sizes.huge;
  const big = ctx.sizes.big;
  const limit = 150 * 1024;
  const H = await measureSize(ctx, huge, 'huge');
  let B = null;
  let bigFrom = `scenarios 1 and 2 (the same \`oras pull\`/\`oras push\` runs)`;
  if (ctx.shared.pullBig?.oras?.stats && ctx.shared.pushBig?.oras?.stats) {
    B = { pull: ctx.shared.pullBig.oras, push: ctx.shared.pushBig.oras };
  } else {
    bigFrom = 'own runs (scenarios 1/2 were not run or failed)';
    B = await measureSize(ctx, big, 'big');
  }
  const rssRow = (label, r, target, extra = '') =>
    r?.stats
      ? {
          label: r.warning ? `${label} ⚠ ${r.warning}` : label,
          kind: 'rss',
          stats: r.stats,
          ratioText: `wall median ${(r.stats.median / 1000).toFixed(1)} s, ${throughput(label.includes(fmtBytes(huge)) ? huge : big, r)}${extra}`,
          ...(target ? { target, met: r.stats.rssMaxKiB !== null && r.stats.rssMaxKiB < limit } : {}),
        }
      : { label, error: r?.error ?? 'not measured', ...(target ? { target } : {}) };
  const growth = (a, b) =>
    a?.stats?.rssMaxKiB && b?.stats?.rssMaxKiB
      ? `; ${fmtMiB(a.stats.rssMaxKiB - b.stats.rssMaxKiB)} vs ${fmtBytes(big)}`
      : '';
  return {
    setup: `Peak RSS (max resident set) of the \`oras\` process, measured with \`/usr/bin/time -f %M\` when present, else by sampling \`/proc/<pid>/status\` VmHWM. ${fmtBytes(huge)} files live in ${H.base}${H.base.startsWith('/dev/shm') ? ' (RAM-backed; enough memory was free)' : ' (disk: not enough RAM-backed space for source + registry + pulled copies)'}; the push runs use a fresh repository each and delete the blob afterwards; pulls write into a fresh directory. ${fmtBytes(big)} figures come from ${bigFrom}. The table's median/min/max columns are RSS here; the ${fmtBytes(huge)} runs are done ${Number(process.env.BENCH_RSS_RUNS) || 1} time(s) (\`BENCH_RSS_RUNS\`; peak RSS barely varies between runs).`,
    rows: [
      rssRow(`\`oras pull\` ${fmtBytes(huge)}`, H.pull, '< 150 MiB', growth(H.pull, B.pull)),
      rssRow(`\`oras push\` ${fmtBytes(huge)}`, H.push, '< 150 MiB', growth(H.push, B.push)),
      rssRow(`\`oras pull\` ${fmtBytes(big)}`, B.pull),
      rssRow(`\`oras push\` ${fmtBytes(big)}`, B.push),
    ],
    targets: [
      rssTarget(`peak RSS of pull ${fmtBytes(huge)} < 150 MiB`, H.pull, limit),
      rssTarget(`peak RSS of push ${fmtBytes(huge)} < 150 MiB`, H.push, limit),
    ],
  };
}
void MiB;
