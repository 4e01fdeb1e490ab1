// Runs several "tools" (ours and baselines) round-robin for N runs, so drift (page cache,
// tmpfs growth, registry state) spreads evenly; a tool that fails is recorded and dropped.
import { summarize } from './measure.mjs';

/**
 * tools: [{ key, label, setup?(i), run(i) -> {ms, rssKiB}, teardown?(i), check?(i, result),
 *           slowMs?, timeoutIsLowerBound? }]
 * A run slower than `slowMs` (default 120 s) ends that tool's runs (reported with its n). With
 * `timeoutIsLowerBound`, a run that hits its time limit is recorded as a lower bound (">") and
 * ends that tool's runs, instead of an error.
 * Returns { [key]: { label, stats?, error? } }.
 */
export async function measureGroup(runs, tools, log = () => {}) {
  const out = {};
  for (const t of tools) out[t.key] = { label: t.label, samples: [], error: null, done: false, failures: [] };
  for (let i = 0; i < runs; i++) {
    for (const t of tools) {
      const o = out[t.key];
      if (o.error || o.done) continue;
      try {
        if (t.setup) await t.setup(i);
        const r = await t.run(i);
        if (t.check) await t.check(i, r);
        o.samples.push(r);
        log(
          `  ${t.label} #${i + 1}: ${r.ms.toFixed(0)} ms${r.rssKiB ? `, peak RSS ${(r.rssKiB / 1024).toFixed(1)} MiB` : ''}${typeof r.cpuMs === 'number' ? `, CPU ${r.cpuMs.toFixed(0)} ms` : ''}`,
        );
        if (r.ms > (t.slowMs ?? 120_000) && i < runs - 1) {
          o.done = true;
          log(`  ${t.label}: slower than ${((t.slowMs ?? 120_000) / 1000).toFixed(0)} s, no more runs`);
        }
      } catch (err) {
        if (err?.timedOut && t.timeoutIsLowerBound) {
          o.samples.push({ ms: err.ms, rssKiB: null, lowerBound: true });
          o.done = true;
          log(
            `  ${t.label} #${i + 1}: still running after ${(err.ms / 1000).toFixed(0)} s (killed; recorded as a lower bound)`,
          );
          continue;
        }
        // A failed run is recorded and the tool keeps its remaining runs (failures may be
        // intermittent); it becomes an error only when no run succeeds.
        const msg = String(err?.message ?? err)
          .replace(/\s+/g, ' ')
          .slice(0, 300);
        o.failures.push(msg);
        log(`  ${t.label} #${i + 1}: ERROR ${msg}`);
        if (t.stopOnError || err?.timedOut) o.error = msg; // a timeout is expensive: no more runs
      } finally {
        if (t.teardown) await t.teardown(i).catch((e) => log(`  teardown ${t.label}: ${e?.message ?? e}`));
      }
    }
  }
  for (const t of tools) {
    const o = out[t.key];
    if (!o.error && o.samples.length) o.stats = summarize(o.samples);
    else if (!o.error)
      o.error = o.failures.length
        ? `${o.failures.length}/${o.failures.length} runs failed: ${o.failures[0]}`
        : 'no samples';
    if (o.stats && o.failures.length)
      o.warning = `${o.failures.length} of ${o.failures.length + o.samples.length} runs failed: ${o.failures[0]}`;
  }
  return out;
}

/**
 * Runs of a group whose ratio decides a target near its limit (at least 5, or BENCH_RUNS when
 * higher; the quick mode keeps BENCH_RUNS): the host's minute-to-minute spread is about ±10 %,
 * which a median of 3 does not absorb.
 */
export function targetRuns(ctx) {
  return ctx.quick ? ctx.runs : Math.max(ctx.runs, 5);
}
