import { Transform, type Readable, type Writable } from 'node:stream';
import { OrasError } from '../errors.js';

/**
 * `stream`'s bytes, unchanged, for one consumer, each chunk also written to `branch` (a second
 * reader of the same bytes, e.g. a scan that runs while a download is written to a file).
 *
 * Contract:
 * - Pace: a chunk goes on only once `branch` took it (its `write` returned true, or it drained), so
 *   at most `branch`'s buffer plus one chunk is held: memory does not grow with the stream's size.
 * - A branch that fails or closes early is dropped: the main consumer still gets every byte (the
 *   branch's owner reports its own error).
 * - When the returned stream has delivered everything, `branch` is ended. When it is destroyed
 *   before that (its consumer gave up, or `stream` failed), `branch` is destroyed too, with the same
 *   error (or `ERR_ORAS_ABORTED`): a branch never sees the end of a stream that did not end.
 * - Errors of `stream` flow downstream; a consumer that gives up releases `stream` too.
 */
export function teeTo(stream: Readable, branch: Writable): Readable {
  let ended = false;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (branch.destroyed || branch.writableEnded || branch.write(chunk)) {
        cb(null, chunk);
        return;
      }
      const go = (): void => {
        branch.off('drain', go);
        branch.off('close', go);
        cb(null, chunk);
      };
      branch.on('drain', go);
      branch.on('close', go);
    },
    flush(cb) {
      ended = true;
      if (!branch.destroyed) branch.end();
      cb();
    },
  });
  stream.on('error', (err) => out.destroy(err));
  out.on('close', () => {
    if (!stream.destroyed) stream.destroy();
    if (ended || branch.destroyed) return;
    branch.destroy(out.errored ?? new OrasError('ERR_ORAS_ABORTED', 'the stream stopped before its end'));
  });
  return stream.pipe(out);
}
