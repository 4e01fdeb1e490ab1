/**
 * A pacer for long stretches of synchronous work between microtask-only awaits (placing the
 * files of a layer read from memory: each file is verified and written synchronously, and the
 * awaits between them never leave the microtask queue). Without a turn of the event loop, a
 * SIGINT/SIGTERM handler, an abort, a timer or a progress redraw waits until the stretch ends.
 *
 * `turnEvery(ms)` returns a function to call once per unit of work: it returns a promise that
 * resolves on the next turn (`setImmediate`, after pending I/O and signal callbacks ran) when at
 * least `ms` (default 50) passed since the last turn, else `undefined` (no await, no allocation).
 */
export function turnEvery(ms = 50): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < ms) return undefined;
    last = now;
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        last = performance.now();
        resolve();
      });
    });
  };
}
