import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { settleAll } from '../../src/content/settle-all.js';

describe('settleAll', () => {
  it('returns the values in order, plain values included', async () => {
    const [a, b, c] = await settleAll([Promise.resolve(1), 'two', sleep(5).then(() => true)]);
    expect([a, b, c]).toEqual([1, 'two', true]);
  });

  it('rethrows the first rejection in argument order, only after every promise has settled', async () => {
    let slowDone = false;
    const slow = sleep(50).then(() => {
      slowDone = true;
    });
    const late = sleep(20).then(() => Promise.reject(new Error('second')));
    const early = Promise.reject(new Error('first'));
    await expect(settleAll([slow, early, late])).rejects.toThrow('first');
    expect(slowDone).toBe(true);
  });
});
