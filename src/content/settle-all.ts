/**
 * Awaits every promise (the tuple's types kept) and only then rethrows the first rejection in
 * argument order, or returns the values. Unlike `Promise.all`, nothing handed in is still running
 * (writing a temp file, say) when the caller sees the error; unlike `runAll` (artifact/run-all.ts), nothing is
 * cancelled: each call must settle on its own (or on a signal the caller shares).
 */
export async function settleAll<T extends readonly unknown[]>(promises: {
  readonly [K in keyof T]: Promise<T[K]> | T[K];
}): Promise<T> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
