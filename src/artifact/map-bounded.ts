/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight and
 * returns the results in input order (like `Promise.all(items.map(fn))`, but
 * bounded).
 *
 * Unlike queueing every item in a limiter up front (`pLimit(n).map(items, fn)`
 * creates a promise, a closure and a queue node per item before the first one
 * runs), `concurrency` workers pull the next index when they finish one: the
 * memory held for pending work is O(concurrency), not O(items). That matters
 * for installs of tens of thousands of files (peak RSS, see docs/BENCHMARKS.md).
 *
 * Behaviour on failure: when `fn` rejects, no further item is started, and the
 * first error is thrown once every started call has settled (nothing keeps
 * running in the background). Callers that want to continue past failures
 * catch inside `fn`. `concurrency` is clamped to at least 1.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
      }
    }
  };
  const n = Math.min(Math.max(1, Math.floor(concurrency) || 1), items.length);
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw firstError;
  return results;
}
