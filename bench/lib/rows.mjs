// Helpers turning measureGroup results into report rows and target verdicts.
import { fmtMs, fmtMiB } from './report.mjs';

/** A table row for one tool's result. */
export function row(label, r, extra = {}) {
  if (!r) return { label, error: 'not measured', ...extra };
  if (r.error) return { label, error: r.error, ...extra };
  return { label: r.warning ? `${label} ⚠ ${r.warning}` : label, kind: 'time', stats: r.stats, ...extra };
}

/** median(a) / median(b), or null when either is missing. */
export function ratio(a, b) {
  if (!a?.stats || !b?.stats || !b.stats.median) return null;
  return a.stats.median / b.stats.median;
}

/** '<' when only `b` is a lower bound (so the ratio is an upper bound), '>' the reverse, '~' both. */
export function boundOf(a, b) {
  const la = !!a?.stats?.lowerBound;
  const lb = !!b?.stats?.lowerBound;
  return la && lb ? '~' : lb ? '<' : la ? '>' : '';
}

export function ratioText(x, vs, bound = '') {
  return x === null || x === undefined ? '' : `${bound ? `${bound} ` : ''}${x.toFixed(2)}× ${vs}`;
}

/** ratioText(ratio(a, b)) with the bound marker. */
export function rtext(a, b, vs) {
  return ratioText(ratio(a, b), vs, boundOf(a, b));
}

/** "ours ≤ k × baseline" verdict (null when undecidable). */
export function ratioMet(ours, base, k) {
  const x = ratio(ours, base);
  if (x === null) return false;
  const b = boundOf(ours, base);
  if (b === '~') return null;
  if (b === '>') return x <= k ? null : false;
  return x <= k;
}

const warn = (r) => (r?.warning ? `; ⚠ ${r.warning}` : '');
const ms = (r) => `${r.stats.lowerBound ? '> ' : ''}${fmtMs(r.stats.median)}`;

/** "ours ≤ k × baseline" target. */
export function ratioTarget(text, ours, base, k, baseName) {
  const x = ratio(ours, base);
  if (x === null) return { text, met: false, detail: `cannot compute: ${ours?.error ?? base?.error ?? 'missing'}` };
  return {
    text,
    met: ratioMet(ours, base, k),
    detail: `${ratioText(x, baseName, boundOf(ours, base))} (${ms(ours)} vs ${ms(base)})${warn(ours)}`,
  };
}

/** "a is ≥ k times faster than b" target (b / a ≥ k). */
export function speedupTarget(text, fast, slow, k, names) {
  const x = ratio(slow, fast);
  if (x === null) return { text, met: false, detail: `cannot compute: ${fast?.error ?? slow?.error ?? 'missing'}` };
  return {
    text,
    met: x >= k,
    detail: `${x.toFixed(1)}× (${names[0]} ${fmtMs(fast.stats.median)}, ${names[1]} ${fmtMs(slow.stats.median)})${warn(fast)}${warn(slow)}`,
  };
}

export function absTimeTarget(text, r, maxMs) {
  if (!r?.stats) return { text, met: false, detail: `cannot compute: ${r?.error ?? 'missing'}` };
  return {
    text,
    met: r.stats.median < maxMs,
    detail: `median ${fmtMs(r.stats.median)} (max ${fmtMs(r.stats.max)})${warn(r)}`,
  };
}

export function rssTarget(text, r, maxKiB) {
  if (!r?.stats || r.stats.rssMaxKiB === null)
    return { text, met: false, detail: `cannot compute: ${r?.error ?? 'no RSS'}` };
  return {
    text,
    met: r.stats.rssMaxKiB < maxKiB,
    detail: `peak ${fmtMiB(r.stats.rssMaxKiB)} (worst of ${r.stats.n} runs)${warn(r)}`,
  };
}

export function throughput(bytes, r) {
  if (!r?.stats) return '';
  return `${(bytes / 1048576 / (r.stats.median / 1000)).toFixed(0)} MiB/s`;
}
