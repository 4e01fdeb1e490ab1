import type { Readable } from 'node:stream';
import type { CallOptions, FetchOptions, ReadOnlyTarget, TagLister } from '../content/store.js';
import { isOrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';

/** What a {@link MirroredTarget} reads from: a repository on a mirror or on the origin registry. */
export type MirrorCandidate = ReadOnlyTarget & TagLister;

/**
 * A read-only target that tries each candidate in order (the config's `mirrors` first, then the
 * origin registry): the first candidate that answers wins; an abort (`ERR_ORAS_ABORTED`) stops
 * the search. Every fetched byte is still verified against its descriptor by the caller, so a
 * mirror can withhold content but never substitute it. Tags come from the origin (mirrors may lag).
 */
export class MirroredTarget implements ReadOnlyTarget, TagLister {
  /** `candidates`: mirrors first, the origin last (at least one). */
  constructor(private readonly candidates: MirrorCandidate[]) {
    if (candidates.length === 0) throw new Error('MirroredTarget needs at least one candidate');
  }

  private async first<T>(fn: (t: MirrorCandidate) => Promise<T>): Promise<T> {
    let lastErr: unknown;
    for (const t of this.candidates) {
      try {
        return await fn(t);
      } catch (err) {
        if (isOrasError(err, 'ERR_ORAS_ABORTED')) throw err;
        lastErr = err;
      }
    }
    throw lastErr;
  }

  resolve(reference: string, options?: CallOptions): Promise<Descriptor> {
    return this.first((t) => t.resolve(reference, options));
  }

  fetch(desc: Descriptor, options?: FetchOptions): Promise<Readable> {
    return this.first((t) => t.fetch(desc, options));
  }

  async exists(desc: Descriptor, options?: CallOptions): Promise<boolean> {
    for (const t of this.candidates) {
      try {
        if (await t.exists(desc, options)) return true;
      } catch (err) {
        if (isOrasError(err, 'ERR_ORAS_ABORTED')) throw err;
      }
    }
    return false;
  }

  async *tags(options?: CallOptions & { last?: string }): AsyncIterable<string> {
    // Tags come from the origin (last candidate): mirrors may lag behind.
    const origin = this.candidates[this.candidates.length - 1]!;
    yield* origin.tags(options);
  }
}
