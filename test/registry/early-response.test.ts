/**
 * Regression: `oras push` of many small files failed intermittently with
 * "Premature close". The registry answers the monolithic `PUT ?digest=` as
 * soon as it has Content-Length bytes; when that answer arrives before the
 * source stream has signalled EOF (a file stream needs one more read to see
 * it), undici completes the request and destroys the unfinished body, and the
 * upload used to report the pipeline's ERR_STREAM_PREMATURE_CLOSE although the
 * registry had committed the blob. A source that delivers every byte but never
 * ends makes that ordering certain.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { isOrasError } from '../../src/errors.js';
import { registry } from '../harness/context.js';
import { blob, clientFor, collect, descOf, repoOn } from './helpers.js';

const info = registry('plain');
const client = clientFor(info);
afterAll(async () => {
  await client.close();
});

/** Pushes `data` and then stays open (no EOF) until destroyed; records whether it was destroyed. */
function neverEnding(data: Buffer): Readable & { destroyedByConsumer: () => boolean } {
  let sent = false;
  let destroyed = false;
  const r = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data);
      }
      // No push(null): EOF never comes.
    },
    destroy(err, cb) {
      destroyed = true;
      cb(err);
    },
  });
  return Object.assign(r, { destroyedByConsumer: () => destroyed });
}

describe('monolithic upload answered before the source signals EOF', () => {
  it('succeeds when every byte was sent and the registry committed the blob', async () => {
    const repo = repoOn(info, client, 'early-response');
    for (let i = 0; i < 5; i++) {
      const data = blob(4096);
      const desc = descOf(data);
      const src = neverEnding(data);
      await repo.push(desc, src);
      expect(src.destroyedByConsumer()).toBe(true); // the transport really cut the body short
      expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
    }
  });

  it('reports a digest mismatch when the bytes sent do not match the descriptor', async () => {
    const repo = repoOn(info, client, 'early-response-bad');
    const data = blob(4096);
    const desc = descOf(data);
    const other = blob(4096);
    const err = await repo.push(desc, neverEnding(other)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOrasError(err) && err.code).toBe('ERR_ORAS_DIGEST_MISMATCH');
    expect(await repo.exists(desc)).toBe(false);
  });

  it('still fails when the source closes before every byte was sent', async () => {
    const repo = repoOn(info, client, 'early-response-short');
    const data = blob(4096);
    const desc = descOf(data);
    let sent = false;
    const src = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(data.subarray(0, 1000));
          setImmediate(() => this.destroy());
        }
      },
    });
    const err = await repo.push(desc, src).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(isOrasError(err) ? err.code : (err as NodeJS.ErrnoException).code).toMatch(/PREMATURE_CLOSE|ERR_ORAS_/);
    expect(await repo.exists(desc)).toBe(false);
  });
});
