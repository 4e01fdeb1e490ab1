#!/usr/bin/env node
// oras-ts benchmark suite. `npm run bench` (builds first). Never part of `npm test`.
//
// Env knobs:
//   BENCH_RUNS=3        runs per measurement (median/min/max reported)
//   BENCH_QUICK=1       small sizes (harness check in ~1 min); report goes to $TMPDIR, not docs/
//   BENCH_ONLY=1,3      run only these scenarios (ids 1-7)
//   BENCH_OUT=path      where to write the report (default docs/BENCHMARKS.md, quick: tmp)
//   BENCH_DATA_DIR=dir  parent dir for data + registry storage (default /dev/shm, else os.tmpdir())
//   BENCH_CLI=path      time this CLI entry (e.g. another worktree's dist/cli/main.js) instead of ./dist
//   BENCH_KEEP_DISK=dir move the disk work directory into dir at the end instead of deleting it, so
//                       back-to-back runs (A/B of two builds) do not pay for each other's deletions on
//                       a journal-less ext4 (see bench/lib/trash.mjs); delete dir yourself afterwards
//   BENCH_RENDER_ONLY=1 re-render the report from the last run's results ($TMPDIR/oras-ts-bench-last.json)
//                       with the current bench/analysis.md, without running anything
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GiB, KiB, MiB } from './lib/data.mjs';
import { liveChildren, runCmd } from './lib/measure.mjs';
import { newAgent } from './lib/raw.mjs';
import { startRegistry } from './lib/registry.mjs';
import { makeTrash } from './lib/trash.mjs';
import { renderReport } from './lib/report.mjs';
import { scenarios } from './scenarios/index.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_CLI times another build's CLI with this harness (A/B of two commits on the same data).
const CLI = process.env.BENCH_CLI ? resolve(process.env.BENCH_CLI) : join(ROOT, 'dist', 'cli', 'main.js');
const quick = process.env.BENCH_QUICK === '1';
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3) || 3);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const outFile = process.env.BENCH_OUT
  ? resolve(process.env.BENCH_OUT)
  : quick
    ? join(tmpdir(), 'oras-ts-bench-quick.md')
    : join(ROOT, 'docs', 'BENCHMARKS.md');

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function pickDataBase() {
  if (process.env.BENCH_DATA_DIR) return resolve(process.env.BENCH_DATA_DIR);
  try {
    if (existsSync('/dev/shm')) {
      const s = statfsSync('/dev/shm');
      if (s.bavail * s.bsize > 8 * GiB) return '/dev/shm';
    }
  } catch {
    /* no shm */
  }
  return tmpdir();
}

const sizes = quick
  ? {
      big: 64 * MiB,
      huge: 256 * MiB,
      smallCount: 100,
      smallSize: 4 * KiB,
      coldDeps: 10,
      coldFilesPerDep: 10,
      coldFileSize: 16 * KiB,
      noopDeps: 20,
      filesPerDep: 50,
      depFileSize: 4 * KiB,
    }
  : {
      big: 1 * GiB,
      huge: 4 * GiB,
      smallCount: 1000,
      smallSize: 4 * KiB,
      coldDeps: 50,
      coldFilesPerDep: 10,
      coldFileSize: 16 * KiB,
      noopDeps: 200,
      filesPerDep: 50,
      depFileSize: 4 * KiB,
    };

// ---- cleanup, even on failure / SIGINT ------------------------------------------------------
const cleanupDirs = new Set();
/** Directories moved into BENCH_KEEP_DISK at exit instead of deleted. */
const keepDirs = new Set();
let registryChild = null;
let cleanedUp = false;
function syncCleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (registryChild && registryChild.exitCode === null) {
    try {
      registryChild.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of cleanupDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  for (const d of keepDirs) {
    try {
      mkdirSync(process.env.BENCH_KEEP_DISK, { recursive: true });
      renameSync(d, join(process.env.BENCH_KEEP_DISK, basename(d)));
    } catch {
      rmSync(d, { recursive: true, force: true });
    }
  }
}
process.on('exit', syncCleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the registry and removing bench data…`);
    syncCleanup();
    process.exit(130);
  });
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `(unavailable: ${e.message.split('\n')[0]})`;
  }
}

function machineInfo(dataBase) {
  const cpuModel = (
    /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ??
    cpus()[0]?.model ??
    'unknown'
  ).trim();
  let fsType = '';
  try {
    fsType = sh('stat', ['-f', '-c', '%T', dataBase]);
  } catch {
    /* none */
  }
  return {
    nproc: sh('nproc', []),
    memTotal: `${(totalmem() / GiB).toFixed(1)} GiB (free at start ${(freemem() / GiB).toFixed(1)} GiB)`,
    node: process.version,
    cpuModel,
    kernel: sh('uname', ['-r']),
    dataBase: `${dataBase} (${fsType})`,
    registry: sh('/usr/bin/docker-registry', ['--version']),
    skopeo: sh('skopeo', ['--version']),
    curl: sh('curl', ['--version']).split('\n')[0].split(' ').slice(0, 2).join(' '),
    loadAtStart: loadavg()
      .map((x) => x.toFixed(2))
      .join(', '),
    timeBin: existsSync('/usr/bin/time')
      ? '/usr/bin/time -f "%M %U %S" (max RSS, user + sys CPU)'
      : 'sampling /proc/<pid>/status VmHWM every 20 ms (no CPU column)',
  };
}

async function main() {
  const started = new Date();
  const dataBase = pickDataBase();
  const work = await mkdtemp(join(dataBase, 'oras-ts-bench-'));
  cleanupDirs.add(work);
  const diskWork = await mkdtemp(join(tmpdir(), 'oras-ts-bench-disk-'));
  if (process.env.BENCH_KEEP_DISK) keepDirs.add(diskWork);
  else cleanupDirs.add(diskWork);
  const dirs = {};
  for (const d of ['home', 'xdg-cache', 'xdg-config', 'docker', 'tmp', 'registry']) {
    dirs[d] = join(work, d);
    await mkdir(dirs[d], { recursive: true });
  }
  const env = {
    ...process.env,
    HOME: dirs.home,
    XDG_CACHE_HOME: dirs['xdg-cache'],
    XDG_CONFIG_HOME: dirs['xdg-config'],
    DOCKER_CONFIG: dirs.docker,
    TMPDIR: dirs.tmp,
    NO_COLOR: '1',
  };
  delete env.NODE_OPTIONS;
  delete env.CI; // CI=1 makes `oras install` behave like --frozen-lockfile

  const machine = machineInfo(dataBase);
  log(`oras-ts bench: ${quick ? 'QUICK' : 'full'}, ${runs} run(s) each, data in ${work}`);
  const reg = await startRegistry(dirs.registry, {
    onChild: (c) => {
      registryChild = c;
    },
  });
  log(`registry ${reg.host} (pid ${reg.pid})`);
  const agent = newAgent(16);

  const ctx = {
    ROOT,
    CLI,
    quick,
    runs,
    sizes,
    env,
    work,
    diskWork,
    log,
    agent,
    url: reg.url,
    host: reg.host,
    registry: reg,
    shared: {},
    ref: (repo, tag) => `${reg.host}/${repo}:${tag}`,
    discard: makeTrash(join(diskWork, '.trash')),
    async mkdir(name, base = work) {
      const d = join(base, name);
      await mkdir(d, { recursive: true });
      return d;
    },
    cmd: (bin, args, opts = {}) => runCmd(bin, args, { env, tmpDir: dirs.tmp, ...opts }),
    oras: (args, opts = {}) => runCmd(process.execPath, [CLI, ...args], { env, tmpDir: dirs.tmp, ...opts }),
    node: (script, args, opts = {}) => runCmd(process.execPath, [script, ...args], { env, tmpDir: dirs.tmp, ...opts }),
  };

  const sections = [];
  try {
    if (!existsSync(CLI)) log(`warning: ${CLI} is missing (build failed?); CLI scenarios will record errors`);
    for (const sc of scenarios) {
      if (only && !only.has(sc.id)) continue;
      log(`\n== ${sc.id}. ${sc.title}`);
      const t0 = Date.now();
      const load0 = loadavg()[0];
      let section;
      try {
        section = await sc.run(ctx);
      } catch (err) {
        log(`scenario ${sc.id} failed: ${err?.stack ?? err}`);
        section = {
          rows: [],
          error: String(err?.message ?? err)
            .replace(/\s+/g, ' ')
            .slice(0, 400),
        };
      }
      section.id = sc.id;
      section.title = sc.title;
      section.seconds = (Date.now() - t0) / 1000;
      section.load = [load0, loadavg()[0]];
      sections.push(section);
      log(`   (${section.seconds.toFixed(0)} s)`);
      await rm(join(work, `s${sc.id}`), { recursive: true, force: true });
      await ctx.discard(join(diskWork, `s${sc.id}`));
    }
  } finally {
    await agent.close().catch(() => undefined);
    await reg.stop();
    registryChild = null;
  }
  const finished = new Date();
  const results = {
    sections,
    machine,
    runs,
    quick,
    started: started.toISOString(),
    finished: finished.toISOString(),
    sizes,
  };
  await writeFile(resultsFile, JSON.stringify(results, null, 1));
  await render(results);
  const targets = sections.flatMap((s) => (s.targets ?? []).map((t) => ({ ...t, id: s.id })));
  for (const t of targets)
    log(
      `  [${t.met === true ? 'MET' : t.met === false ? 'NOT MET' : 'n/a'}] ${t.id}: ${t.text}${t.detail ? ` — ${t.detail}` : ''}`,
    );
}

const resultsFile = join(tmpdir(), `oras-ts-bench-last${quick ? '-quick' : ''}.json`);

async function render(results) {
  const analysisFile = join(ROOT, 'bench', 'analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
  const md = renderReport({
    ...results,
    started: new Date(results.started),
    finished: new Date(results.finished),
    analysis,
  });
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, md);
  log(`\nreport: ${outFile} (results: ${resultsFile})`);
}

try {
  if (process.env.BENCH_RENDER_ONLY === '1') await render(JSON.parse(readFileSync(resultsFile, 'utf8')));
  else await main();
} catch (err) {
  log(`bench failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  syncCleanup();
}
