import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapBounded } from '../../src/artifact/map-bounded.js';
import { MemoryStore } from '../../src/content/memory.js';
import type { Fetcher } from '../../src/content/store.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('mapBounded', () => {
  it('returns results in input order with at most `concurrency` calls in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const res = await mapBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n, i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      for (let k = 0; k < 8 - n; k++) await tick(); // later items finish first
      inFlight--;
      return n * 10 + i;
    });
    expect(res).toEqual([10, 21, 32, 43, 54, 65, 76]);
    expect(peak).toBe(3);
  });

  it('starts an item only when a slot frees up (pending work is O(concurrency), not O(items))', async () => {
    const started: number[] = [];
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const p = mapBounded(items, 4, async (n) => {
      started.push(n);
      await tick();
      return n;
    });
    expect(started).toEqual([0, 1, 2, 3]);
    expect((await p).length).toBe(10_000);
  });

  it('after a failure starts nothing more and rejects once the started calls settled', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const p = mapBounded([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('boom');
      await tick();
      await tick();
      settled.push(n);
      return n;
    });
    await expect(p).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
    expect(settled).toEqual([2]);
  });

  it('handles empty input and clamps the concurrency to at least 1', async () => {
    expect(await mapBounded([], 4, async () => 1)).toEqual([]);
    expect(await mapBounded([1, 2], 0, async (n) => n)).toEqual([1, 2]);
  });
});

describe('ProjectCache.ensureBlobs after a failed blob', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'oras-map-bounded-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('fetches nothing more in the background once one blob failed', async () => {
    const store = new MemoryStore();
    const blobs: Descriptor[] = [];
    for (let i = 0; i < 4; i++) {
      const data = Buffer.from(`blob ${i}\n`);
      const desc: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
      if (i > 0) await store.push(desc, data); // blob 0 is missing: its fetch fails
      blobs.push(desc);
    }
    const fetched: string[] = [];
    const source: Fetcher = {
      fetch: async (desc, options) => {
        fetched.push(desc.digest);
        return await store.fetch(desc, options);
      },
    };
    const cache = await ProjectCache.open(join(root, 'cache'));
    const needs = blobs.map((desc, i) => ({ desc, source, label: `dep f${i}` }));
    await expect(cache.ensureBlobs(needs, { concurrency: 1 })).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    for (let k = 0; k < 50; k++) await tick();
    await new Promise((r) => setTimeout(r, 100));
    expect(fetched).toEqual([blobs[0]!.digest]);
    for (const d of blobs.slice(1)) expect(await cache.has(d)).toBe(false);
  });
});
