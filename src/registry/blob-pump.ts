import { isOrasError, OrasError } from '../errors.js';
import type { VerifyingStream } from '../oci/digest.js';
import { ThroughputGuard, type TransferPolicy } from './deadline.js';
import type { RegistryResponse } from './transport.js';

/** True for errors worth a Range resume: connection-level failures, not our own verdicts or aborts. */
function isResumable(err: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  if (isOrasError(err)) return err.code === 'ERR_ORAS_NETWORK' || err.code === 'ERR_ORAS_TIMEOUT';
  return !(err instanceof Error && err.name === 'AbortError');
}

/** Options of {@link pumpBody}. */
export interface PumpOptions {
  size: number;
  maxAttempts: number;
  signal: AbortSignal | undefined;
  what: string;
  /** Minimum throughput (see {@link ThroughputGuard}); a slow body is dropped and resumed like a broken one. */
  policy: TransferPolicy | undefined;
  onProgress: ((bytes: number) => void) | undefined;
  /** Sends the Range request for a resume at `received`; `skip` = bytes of the new body to drop. */
  resume: (received: number) => Promise<{ res: RegistryResponse; skip: number }>;
}

/**
 * Moves response bodies into `verifier` with plain 'data' events and
 * backpressure (one hop per chunk), resuming on connection failures: ends the
 * verifier when a body ends, destroys it with the error otherwise, and
 * destroys the current body when the verifier is destroyed by its consumer.
 */
export function pumpBody(first: RegistryResponse, verifier: VerifyingStream, o: PumpOptions): void {
  let res = first;
  let skip = 0;
  let attempts = 1;
  let received = 0;
  let done = false;
  let waitingDrain = false;
  const guard =
    o.policy === undefined
      ? undefined
      : new ThroughputGuard(o.policy, o.what, (err) => {
          if (!done && !waitingDrain) res.body.destroy(err);
        });

  const onDrain = (): void => {
    waitingDrain = false;
    guard?.excuse();
    if (!done) res.body.resume();
  };
  const onData = (chunk: Buffer | Uint8Array): void => {
    if (verifier.destroyed) return; // 'close' follows and stops the body
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (skip > 0) {
      if (buf.length <= skip) {
        skip -= buf.length;
        return;
      }
      buf = buf.subarray(skip);
      skip = 0;
    }
    received += buf.length;
    guard?.add(buf.length);
    o.onProgress?.(received);
    if (!verifier.write(buf) && !waitingDrain) {
      waitingDrain = true;
      guard?.excuse();
      res.body.pause();
      verifier.once('drain', onDrain);
    }
  };
  const detach = (): void => {
    res.body.off('data', onData);
    res.body.off('end', onEnd);
    res.body.off('error', onError);
  };
  const finish = (err?: unknown): void => {
    if (done) return;
    done = true;
    guard?.stop();
    detach();
    verifier.off('close', onVerifierClose);
    if (err === undefined) verifier.end();
    else verifier.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const onEnd = (): void => finish();
  const onError = (err: unknown): void => {
    if (done) return;
    detach();
    res.body.on('error', () => undefined);
    res.body.destroy();
    if (received === o.size && !isOrasError(err)) {
      finish(); // all bytes arrived; the verifier judges them
      return;
    }
    if (!isResumable(err, o.signal)) {
      finish(err);
      return;
    }
    if (attempts >= o.maxAttempts) {
      const slow = isOrasError(err) && err.code === 'ERR_ORAS_TIMEOUT';
      finish(
        new OrasError(
          slow ? 'ERR_ORAS_TIMEOUT' : 'ERR_ORAS_NETWORK',
          `${o.what}: ${slow ? (err as Error).message : 'connection lost'} at byte ${received} of ${o.size} after ${attempts} attempts`,
          {
            cause: err,
            hint: slow
              ? ((err as OrasError).hint ?? 'the registry is too slow')
              : 'the network or registry keeps dropping the download; retry later',
          },
        ),
      );
      return;
    }
    attempts++;
    o.resume(received).then((next) => {
      if (done) {
        next.res.body.on('error', () => undefined);
        next.res.body.destroy();
        return;
      }
      res = next.res;
      skip = next.skip;
      attach();
    }, finish);
  };
  const onVerifierClose = (): void => {
    // The consumer destroyed the verifier (or it failed): stop the transfer.
    if (done) return;
    done = true;
    guard?.stop();
    detach();
    res.body.on('error', () => undefined);
    res.body.destroy();
  };
  const attach = (): void => {
    res.body.on('data', onData);
    res.body.on('end', onEnd);
    res.body.on('error', onError);
    if (waitingDrain) res.body.pause();
  };
  verifier.on('close', onVerifierClose);
  // Errors reach the consumer through the stream's state and its own listeners;
  // this one only keeps an error raised before the consumer listens from crashing.
  verifier.on('error', () => undefined);
  attach();
}
