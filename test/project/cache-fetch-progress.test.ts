/*
 * An install with a progress listener still downloads a big blob the fast way: the registry's own
 * reader hands its bytes to the cache's writer from one reused buffer (ChunkSource.pumpTo) and the
 * progress comes from the writer's byte count (issue 14: a stage in front of the writer, there only
 * to count bytes, turned every download into a stream of fresh buffers).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../artifact/helpers.js';
import type { Fetcher } from '../../src/content/store.js';
import { digestOf } from '../../src/oci/digest.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import type { ProjectEvent } from '../../src/project/events.js';
import { ReusingSource } from '../content/fixtures.js';

const tempDir = useTempDirs();

const BLOB = randomBytes(3 * 1024 * 1024 + 17);
const desc = { mediaType: 'application/octet-stream', digest: digestOf(BLOB), size: BLOB.length };
const parts = (): Buffer[] => [0, 1, 2, 3].map((i) => BLOB.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));

async function fetchWithListener(stream: Readable): Promise<{ events: ProjectEvent[]; cache: ProjectCache }> {
  const events: ProjectEvent[] = [];
  const cache = await ProjectCache.open(await tempDir(), { onEvent: (e) => events.push(e) });
  const source: Fetcher = { fetch: () => Promise.resolve(stream) };
  await cache.ensureBlob(desc, source);
  return { events, cache };
}

function progressOf(events: ProjectEvent[]): number[] {
  return events.flatMap((e) => (e.type === 'fetch-progress' && e.digest === desc.digest ? [e.bytes] : []));
}

describe('a cache download with a progress listener', () => {
  it('is pumped from the source (one reused buffer), reports progress up to its size, and lands intact', async () => {
    const source = new ReusingSource(parts(), desc);
    const { events, cache } = await fetchWithListener(source);
    expect(source.pumped).toBe(true);
    const progress = progressOf(events);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((b, i) => i === 0 || b > progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBe(BLOB.length);
    expect((await readFile(cache.blobPath(desc.digest))).equals(BLOB)).toBe(true);
    expect(events.map((e) => e.type).filter((t) => t === 'fetch' || t === 'fetched')).toEqual(['fetch', 'fetched']);
  });

  it('reports the same progress from a plain stream', async () => {
    const { events, cache } = await fetchWithListener(Readable.from(parts()));
    const progress = progressOf(events);
    expect(progress.at(-1)).toBe(BLOB.length);
    expect((await readFile(cache.blobPath(desc.digest))).equals(BLOB)).toBe(true);
  });
});
