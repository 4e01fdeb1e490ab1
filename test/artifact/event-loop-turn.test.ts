import { describe, expect, it } from 'vitest';
import { turnEvery } from '../../src/artifact/event-loop-turn.js';

/** Runs `ms` of busy work in microtask-only steps, calling `pace` each step; returns whether `fired()` turned true meanwhile. */
async function busy(ms: number, pace: () => Promise<void> | undefined, fired: () => boolean): Promise<boolean> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    const turn = pace();
    if (turn !== undefined) await turn;
    else await Promise.resolve();
    if (fired()) return true;
  }
  return false;
}

describe('turnEvery', () => {
  it('lets a timer (or a signal handler) run during a stretch of microtask-only work', async () => {
    let fired = false;
    setTimeout(() => (fired = true), 1);
    expect(
      await busy(
        60,
        () => undefined,
        () => fired,
      ),
    ).toBe(false); // without turns nothing else runs
    expect(await busy(400, turnEvery(20), () => fired)).toBe(true);
  });

  it('does not yield before the interval passed', () => {
    const pace = turnEvery(10_000);
    for (let i = 0; i < 1000; i++) expect(pace()).toBeUndefined();
  });
});
