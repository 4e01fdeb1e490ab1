// 3. Push and pull an artifact of many (1000) small files.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fmtBytes, writeSmallFiles } from '../lib/data.mjs';
import { countFiles } from '../lib/files.mjs';
import { measureGroup } from '../lib/group.mjs';
import { writeLayout } from '../lib/layout.mjs';
import { getManifest } from '../lib/raw.mjs';
import { seedArtifact } from '../lib/seed.mjs';
import { ratioMet, ratioTarget, row, rtext } from '../lib/rows.mjs';

export const id = '3';
export const title = 'Push and pull many small files';

/** The CLI's default `--concurrency` for a command, read from its --help (null if not found). */
export async function cliDefaultConcurrency(ctx, command) {
  try {
    const { stdout } = await ctx.oras([command, '--help']);
    const m = /--concurrency[^\n]*?default:?\s*(\d+)/i.exec(stdout);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function run(ctx) {
  const { smallCount: count, smallSize: size } = ctx.sizes;
  const dir = await ctx.mkdir(`s${id}`);
  const pushC = (await cliDefaultConcurrency(ctx, 'push')) ?? 3;
  const pullC = (await cliDefaultConcurrency(ctx, 'pull')) ?? 3;
  const skopeoTimeout = 1000 * (Number(process.env.BENCH_SKOPEO_TIMEOUT_S) || 240);

  // Pull source: seeded once into the registry's storage (untimed).
  const srcFiles = await writeSmallFiles(join(dir, 'pull-src'), count, size);
  await seedArtifact(
    ctx.registry.storageDir,
    'bench/small-pull',
    'v1',
    srcFiles.map(({ data, ...f }) => f),
  );
  await rm(join(dir, 'pull-src'), { recursive: true, force: true });
  const pullRef = ctx.ref('bench/small-pull', 'v1');
  const layerCount = (await getManifest(ctx.agent, ctx.url, 'bench/small-pull', 'v1')).manifest.layers.length;
  if (layerCount !== count) throw new Error(`setup: ${layerCount} layers`);

  // Push: every run pushes never-seen content (fresh random files) into a fresh repository,
  // so no tool can skip or cross-mount a blob.
  const pushDir = (key, i) => join(dir, `push-${key}-${i}`);
  const repoOf = (key, i) => `bench/small-push-${key}-${i}`;
  const state = {};
  const prep = (key, withLayout) => async (i) => {
    const d = pushDir(key, i);
    state[key] = await writeSmallFiles(join(d, 'files'), count, size);
    if (withLayout) await writeLayout(join(d, 'layout'), state[key]);
  };
  const drop = (key) => async (i) => {
    await rm(pushDir(key, i), { recursive: true, force: true });
  };
  const pushed = (key) => async (i) => {
    const { manifest } = await getManifest(ctx.agent, ctx.url, repoOf(key, i), 'v1');
    if (manifest.layers.length !== count) throw new Error(`pushed manifest has ${manifest.layers.length} layers`);
  };
  const pushTools = [
    {
      key: 'oras',
      label: '`oras push` 1000 files (CLI)',
      setup: prep('oras', false),
      teardown: drop('oras'),
      check: pushed('oras'),
      run: (i) =>
        ctx.oras(
          ['push', '--plain-http', '--no-tty', ctx.ref(repoOf('oras', i), 'v1'), ...state.oras.map((f) => f.name)],
          { cwd: join(pushDir('oras', i), 'files') },
        ),
    },
    {
      key: 'skopeo',
      label: '`skopeo copy oci: docker://`',
      setup: prep('skopeo', true),
      teardown: drop('skopeo'),
      check: pushed('skopeo'),
      slowMs: 60_000,
      timeoutIsLowerBound: true,
      run: (i) =>
        ctx.cmd(
          'skopeo',
          [
            'copy',
            '-q',
            '--insecure-policy',
            '--dest-tls-verify=false',
            '--preserve-digests',
            `oci:${join(pushDir('skopeo', i), 'layout')}:v1`,
            `docker://${ctx.ref(repoOf('skopeo', i), 'v1')}`,
          ],
          { timeoutMs: skopeoTimeout },
        ),
    },
    {
      key: 'floor',
      label: `floor: raw undici HEAD+POST+PUT ×${count} at concurrency ${pushC}`,
      setup: prep('floor', false),
      teardown: drop('floor'),
      check: pushed('floor'),
      run: (i) =>
        ctx.node(join(ctx.ROOT, 'bench', 'floor.mjs'), [
          'push',
          ctx.url,
          repoOf('floor', i),
          'v1',
          String(pushC),
          join(pushDir('floor', i), 'files'),
        ]),
    },
  ];
  for (const t of pushTools) t.label = t.label.replace('1000', String(count));
  ctx.log(' push:');
  const p = await measureGroup(ctx.runs, pushTools, ctx.log);

  const out = join(dir, 'out');
  const fresh = async () => {
    await rm(out, { recursive: true, force: true });
  };
  const wrote = async () => {
    const n = await countFiles(out);
    if (n !== count) throw new Error(`pulled ${n} files, expected ${count}`);
  };
  const pullTools = [
    {
      key: 'oras',
      label: `\`oras pull\` ${count} files (CLI)`,
      setup: fresh,
      teardown: fresh,
      check: wrote,
      run: () => ctx.oras(['pull', '--plain-http', '--no-tty', '-o', out, pullRef]),
    },
    {
      key: 'skopeo',
      label: '`skopeo copy docker:// oci:`',
      setup: fresh,
      teardown: fresh,
      run: () =>
        ctx.cmd('skopeo', [
          'copy',
          '-q',
          '--insecure-policy',
          '--src-tls-verify=false',
          '--preserve-digests',
          `docker://${pullRef}`,
          `oci:${out}:v1`,
        ]),
    },
    {
      key: 'floor',
      label: `floor: raw undici GET ×${count} at concurrency ${pullC}`,
      setup: fresh,
      teardown: fresh,
      check: wrote,
      run: () =>
        ctx.node(join(ctx.ROOT, 'bench', 'floor.mjs'), ['pull', ctx.url, 'bench/small-pull', 'v1', String(pullC), out]),
    },
  ];
  ctx.log(' pull:');
  const q = await measureGroup(ctx.runs, pullTools, ctx.log);

  const both = (a, b) => `${rtext(a, b.skopeo, 'skopeo')}; ${rtext(a, b.floor, 'floor')}`;
  const met2 = (a, b, ks, kf) => {
    const x = ratioMet(a, b.skopeo, ks);
    const y = ratioMet(a, b.floor, kf);
    return x === false || y === false ? false : x === null || y === null ? null : true;
  };
  return {
    setup: `${count} files × ${fmtBytes(size)} random bytes, one layer each (title = file name). Push: each run pushes fresh random files into a fresh repository (nothing can be skipped or mounted); skopeo pushes an OCI layout with the same ${count} layers plus an image config. Pull: one artifact seeded once into the registry's storage; each run pulls into a fresh directory. The floor (bench/floor.mjs) is a bare undici client doing only the necessary requests (push: HEAD + POST + PUT per blob, then config and manifest; pull: GET manifest + GET per blob) at the CLI's default concurrency (push ${pushC}, pull ${pullC}), hashing every byte but without retries, progress, temp files, fsync or renames. skopeo (run with \`-q\`: its progress output alone costs minutes at 1000 layers) uses its own built-in parallelism; a skopeo run slower than 60 s is not repeated, and one still running after ${skopeoTimeout / 1000} s is stopped and recorded as a lower bound (">").`,
    rows: [
      row(pushTools[0].label, p.oras, {
        ratioText: both(p.oras, p),
        target: '≤ 0.3× skopeo; ≤ 1.5× floor',
        met: met2(p.oras, p, 0.3, 1.5),
      }),
      row(pushTools[1].label, p.skopeo),
      row(pushTools[2].label, p.floor, { ratioText: rtext(p.floor, p.skopeo, 'skopeo') }),
      row(pullTools[0].label, q.oras, {
        ratioText: both(q.oras, q),
        target: '≤ 1.0× skopeo; ≤ 1.5× floor',
        met: met2(q.oras, q, 1.0, 1.5),
      }),
      row(pullTools[1].label, q.skopeo),
      row(pullTools[2].label, q.floor, { ratioText: rtext(q.floor, q.skopeo, 'skopeo') }),
    ],
    targets: [
      ratioTarget(`push ${count} files ≤ 0.3× skopeo`, p.oras, p.skopeo, 0.3, 'skopeo'),
      ratioTarget(`push ${count} files ≤ 1.5× floor`, p.oras, p.floor, 1.5, 'floor'),
      ratioTarget(`pull ${count} files ≤ 1.0× skopeo`, q.oras, q.skopeo, 1.0, 'skopeo'),
      ratioTarget(`pull ${count} files ≤ 1.5× floor`, q.oras, q.floor, 1.5, 'floor'),
    ],
  };
}
