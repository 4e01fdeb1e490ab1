import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';

/**
 * Runs `fn` over `items` with at most `concurrency` in flight and returns the
 * results in input order. On the first failure the remaining queued items are
 * skipped (they reject at once without calling `fn`), the `signal` handed to the running ones is aborted, and — only once
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
  const limit = pLimit(Math.max(1, Math.floor(concurrency)));
  let failed = false;
  let firstError: unknown;
  try {
    const settled = await Promise.allSettled(
      items.map((item) =>
        limit(async () => {
          controller.signal.throwIfAborted();
          try {
            return await fn(item, controller.signal);
          } catch (err) {
            if (!failed) {
              failed = true;
              firstError = err;
              controller.abort(err);
            }
            throw err;
          }
        }),
      ),
    );
    if (failed) throw firstError;
    return settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
