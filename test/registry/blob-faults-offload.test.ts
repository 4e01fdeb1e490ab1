/**
 * The blob download fault suite (corruption, truncation, trailing bytes,
 * Range resume over 206 and 200, redirects), the real-registry blob tests and
 * the hardening fault suite
 * again, with every verification hashed in a worker thread; afterwards no
 * worker may be busy.
 */
import './offload-all.js';
import { afterAll, expect, it, vi } from 'vitest';
import { hashWorkerStats } from '../../src/oci/hash-offload.js';
import './blob-faults.test.js';
import './blobs.test.js';
import '../hardening/faults.test.js';

it('used hash workers and left none busy', async () => {
  expect(hashWorkerStats().threads + hashWorkerStats().live).toBeGreaterThan(0);
  await vi.waitFor(() => expect(hashWorkerStats().busy).toBe(0), { timeout: 10_000, interval: 20 });
});

afterAll(() => {
  expect(hashWorkerStats().busy).toBe(0);
});
