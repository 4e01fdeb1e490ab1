/**
 * The text lines of `oras backup` / `oras restore` as oras 1.3 prints them
 * (cmd/oras/internal/display/metadata/text/{backup,restore}.go), with its
 * byte and duration formatting (display/status/progress/humanize).
 */

/** oras `humanize.ToBytes(n).String()`: 1024-based, ≤ 4 significant characters, unit padded to 2 (`512  B`, `12.5 KB`). */
export function orasBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let e = n < 1024 ? 0 : Math.floor(Math.log(n) / Math.log(1024));
  if (e >= units.length) e = units.length - 1;
  const p = n / 1024 ** e;
  const rounded = p < 10 ? Math.round(p * 100) / 100 : p < 100 ? Math.round(p * 10) / 10 : Math.round(p);
  return `${String(rounded)} ${(units[e] ?? 'B').padStart(2)}`;
}

/** oras `humanize.FormatDuration`: rounded to s (over 1 s), ms (over 1 ms) or µs, printed as Go's `Duration.String()`. */
export function orasDuration(ms: number): string {
  if (ms > 1000) {
    let s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (h > 0) return `${h}h${m}m${s}s`;
    if (m > 0) return `${m}m${s}s`;
    return `${s}s`;
  }
  if (ms > 1) return `${Math.round(ms)}ms`;
  const us = Math.round(ms * 1000);
  return us === 0 ? '0s' : `${us}µs`;
}

/** `Found N tag(s) in WHERE: a, b` (up to 5 tags), else the count line and one tag per line; `none` when there are none. */
export function tagsFoundLines(tags: string[], where: string, none: string): string[] {
  if (tags.length === 0) return [none];
  if (tags.length <= 5) return [`Found ${tags.length} tag(s) in ${where}: ${tags.join(', ')}`];
  return [`Found ${tags.length} tag(s) in ${where}:`, ...tags];
}
