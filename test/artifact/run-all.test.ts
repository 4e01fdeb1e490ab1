import { describe, expect, it } from 'vitest';
import { runAll } from '../../src/artifact/run-all.js';

describe('runAll', () => {
  it('returns results in order with bounded concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const res = await runAll([1, 2, 3, 4, 5, 6], 2, undefined, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return n * 10;
    });
    expect(res).toEqual([10, 20, 30, 40, 50, 60]);
    expect(peak).toBe(2);
  });

  it('on failure aborts running calls, drops queued ones and waits for them before rejecting', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const p = runAll([1, 2, 3, 4], 2, undefined, async (n, signal) => {
      started.push(n);
      if (n === 1) throw new Error('boom');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      finished.push(n);
      throw signal.reason;
    });
    await expect(p).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
    expect(finished).toEqual([2]); // settled before the rejection reached us
  });

  it('honours the caller signal', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(runAll([1], 1, ac.signal, async () => 1)).rejects.toThrow('stop');
  });
});
