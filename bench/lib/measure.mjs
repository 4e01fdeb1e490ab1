// Child-process timing and peak-RSS measurement, plus summary statistics.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Children currently running (killed on SIGINT by run.mjs). */
export const liveChildren = new Set();

let seq = 0;

/**
 * Runs `cmd args` and measures wall time (ms, spawn to exit), peak RSS (KiB) and CPU time
 * (user + sys ms of the process and the children it waited for, e.g. both sides of a `sh -c`
 * pipe): via `/usr/bin/time -f '%M %U %S'` when present, else peak RSS by sampling
 * /proc/<pid>/status VmHWM every 20 ms and no CPU figure. CPU time is what a run cost the
 * machine: it leaves out time spent waiting, but includes kernel time (file creation, `sync`),
 * which on a shared VM varies as much as wall time does.
 * Rejects on a non-zero exit (with the stderr tail) or after `timeoutMs`.
 */
export async function runCmd(cmd, args, { cwd, env, timeoutMs = 300_000, tmpDir, input } = {}) {
  const rssFile = TIME_BIN && tmpDir ? join(tmpDir, `rss-${process.pid}-${++seq}.txt`) : null;
  const [bin, argv] = rssFile ? [TIME_BIN, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  const child = spawn(bin, argv, {
    cwd,
    env: env ?? process.env,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  if (input !== undefined) child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => {
    if (stdout.length < 1_000_000) stdout += b;
  });
  child.stderr.on('data', (b) => {
    if (stderr.length < 1_000_000) stderr += b;
  });
  let hwm = 0;
  let sampler;
  if (!rssFile) {
    sampler = setInterval(async () => {
      try {
        const s = await readFile(`/proc/${child.pid}/status`, 'utf8');
        const m = /VmHWM:\s+(\d+)/.exec(s);
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 20);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => {
    clearTimeout(timer);
    if (sampler) clearInterval(sampler);
    liveChildren.delete(child);
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let rssKiB = hwm || null;
  let cpuMs = null;
  if (rssFile) {
    try {
      const text = await readFile(rssFile, 'utf8');
      const lines = text.trim().split('\n');
      const [m, u, sys] = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
      if (Number.isFinite(m)) rssKiB = m;
      if (Number.isFinite(u) && Number.isFinite(sys)) cpuMs = (u + sys) * 1000;
    } catch {
      /* none */
    }
    await rm(rssFile, { force: true });
  }
  if (timedOut) {
    const e = new Error(`${cmd.split('/').pop()} timed out after ${timeoutMs} ms`);
    e.timedOut = true;
    e.ms = ms;
    throw e;
  }
  if (code !== 0) {
    const lines = (stderr || stdout).trim().split('\n');
    const errAt = lines.findLastIndex((l) => /^\s*(error|fatal)\b/i.test(l) || /level=(error|fatal)/.test(l));
    const tail = (errAt >= 0 ? lines.slice(errAt, errAt + 3) : lines.slice(-3)).join(' | ').slice(0, 400);
    throw new Error(`${cmd.split('/').pop()} ${args.slice(0, 2).join(' ')} exited ${code ?? signal}: ${tail}`);
  }
  return { ms, rssKiB, cpuMs, stdout, stderr };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function summarize(samples) {
  const ms = samples.map((s) => s.ms);
  const rss = samples.map((s) => s.rssKiB).filter((x) => typeof x === 'number');
  const cpu = samples.map((s) => s.cpuMs).filter((x) => typeof x === 'number');
  return {
    n: ms.length,
    median: median(ms),
    min: Math.min(...ms),
    max: Math.max(...ms),
    rssMaxKiB: rss.length ? Math.max(...rss) : null,
    rssMinKiB: rss.length ? Math.min(...rss) : null,
    rssMedianKiB: rss.length ? median(rss) : null,
    samples: ms,
    rssSamples: rss,
    /** Median CPU time (user + sys, ms) when every run has one, else null. */
    cpuMedianMs: cpu.length && cpu.length === ms.length ? median(cpu) : null,
    cpuSamples: cpu,
    /** True when a run hit its time limit: median/min/max are then lower bounds. */
    lowerBound: samples.some((s) => s.lowerBound),
  };
}
