// 6. Cold install at --concurrency 1, 3, 8.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { countFiles } from '../lib/files.mjs';
import { measureGroup } from '../lib/group.mjs';
import { depSet, ensureDeps, installArgs, writeProject } from '../lib/project.mjs';
import { ratio, row, speedupTarget } from '../lib/rows.mjs';

export const id = '6';
export const title = 'Concurrency scaling of a cold install';

export async function run(ctx) {
  const set = depSet(ctx, 'cold');
  const coldDeps = set.count;
  const filesPerDep = set.files;
  const dir = await ctx.mkdir(`s${id}`);
  await ensureDeps(ctx, set);
  const levels = [1, 3, 8];
  const P = (c, i) => join(dir, `c${c}-${i}`);
  const C = (c, i) => join(dir, `cache-c${c}-${i}`);
  const r = await measureGroup(
    ctx.runs,
    levels.map((c) => ({
      key: `c${c}`,
      label: `cold install, ${coldDeps} deps, \`--concurrency ${c}\``,
      setup: (i) => writeProject(ctx, P(c, i), set, C(c, i)),
      run: (i) => ctx.oras(installArgs(P(c, i), c), { cwd: P(c, i) }),
      check: async (i) => {
        const n = await countFiles(join(P(c, i), 'deps'));
        if (n !== coldDeps * filesPerDep) throw new Error(`installed ${n} files`);
      },
      teardown: async (i) => {
        await rm(P(c, i), { recursive: true, force: true });
        await rm(C(c, i), { recursive: true, force: true });
      },
    })),
    ctx.log,
  );
  const sp = (k) => {
    const x = ratio(r.c1, r[k]);
    return x === null ? '' : `${x.toFixed(2)}× faster than concurrency 1`;
  };
  return {
    setup: `The ${coldDeps}-dependency project of scenario 5 (${coldDeps * filesPerDep} files), new project dir and empty cache every run, at three \`--concurrency\` levels (interleaved).`,
    rows: [
      row(`\`--concurrency 1\``, r.c1),
      row(`\`--concurrency 3\``, r.c3, { ratioText: sp('c3') }),
      row(`\`--concurrency 8\``, r.c8, {
        ratioText: sp('c8'),
        target: '≥ 3× faster than concurrency 1',
        met: (ratio(r.c1, r.c8) ?? 0) >= 3,
      }),
    ],
    targets: [speedupTarget('cold install at concurrency 8 ≥ 3× faster than at 1', r.c8, r.c1, 3, ['c8', 'c1'])],
  };
}
