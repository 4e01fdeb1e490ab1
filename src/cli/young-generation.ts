import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * The young generation's size, both semi-spaces together, at which the CLI stops V8 from growing it
 * (8 MiB: 4 MiB per semi-space, where V8's default lets each grow to 16 MiB).
 */
export const YOUNG_GENERATION_CAP_BYTES = 8 * 1024 * 1024;

/** The flag {@link capYoungGeneration} starts with (and the code cache is made with: see v8-flags.ts). */
export const YOUNG_GENERATION_START_FLAG = '--semi-space-growth-factor=4';

/**
 * Decision (CLI process only; the library never changes V8 flags): V8's young generation grows
 * from 1 MiB to 4 MiB per semi-space, then stays there.
 *
 * Why: on the VMs we measure on, a first touch of a memory page costs ~10 µs (a minor page fault;
 * 100 MiB touched once took 263 ms), and V8's default lets each semi-space grow to 16 MiB as soon as
 * an install parses a large lockfile (objects that live). Those 32 MiB are ~8,000 fresh pages per
 * run, and no later scavenge is cheaper for it. A warm install of one 10,000-file layer made 25,300
 * page faults with the default and 21,100 with this cap: wall 1.32 -> 1.24 s, peak RSS 121 -> 104 MiB;
 * 200 dependencies of 50 files: 1.38 -> 1.32 s (5 interleaved rounds; bench/analysis.md, round 16).
 * Never growing (1 MiB) cut more faults but cost more scavenges than it saved on the 200-dependency
 * install (1.38 -> 1.42 s).
 *
 * How: V8 reads `--max-semi-space-size` only when the heap is set up, so a running process cannot
 * lower it; it reads `--semi-space-growth-factor` at every growth. So the factor is 4 (1 -> 4 MiB at
 * the first growth) until a garbage collection shows the young generation at the cap, then 1. The
 * observer runs after a collection, so two growths in one long synchronous task can still reach the
 * default maximum: then this changes nothing. Only on the V8 versions where the flag is known to
 * exist (Node 20-24), since V8 prints an error for an unknown flag.
 */
export function capYoungGeneration(): void {
  if (Number(process.versions.v8.split('.')[0]) > 13) return;
  setFlagsFromString(YOUNG_GENERATION_START_FLAG);
  const observer = new PerformanceObserver(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (young !== undefined && young.space_size < YOUNG_GENERATION_CAP_BYTES) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
