import { setMaxListeners } from 'node:events';
import { mapBounded } from './map-bounded.js';

/**
 * Runs `fn` over `items` with at most `concurrency` in flight and returns the
 * results in input order. On the first failure the remaining queued items are
 * skipped (`fn` is not called for them), the `signal` handed to the running ones is aborted, and — only once
 * every started call has settled (so nothing keeps writing in the background)
 * — the first error is thrown. `signal` (the caller's) aborts everything too.
 */
export async function runAll<T, R>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // one listener per in-flight request; removed as each settles
  const onAbort = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  let failed = false;
  try {
    return await mapBounded(items, concurrency, async (item) => {
      controller.signal.throwIfAborted();
      try {
        return await fn(item, controller.signal);
      } catch (err) {
        if (!failed) {
          failed = true;
          controller.abort(err);
        }
        throw err;
      }
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
