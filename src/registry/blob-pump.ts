import { isOrasError, OrasError } from '../errors.js';
import type { ChunkSink } from '../content/chunk-source.js';
import type { VerifyingStream } from '../oci/digest.js';
import { ThroughputGuard, type TransferPolicy } from './deadline.js';
import { isSinkableBody, type RegistryResponse } from './transport.js';

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
  /**
   * Sink mode: each chunk is verified (`verifyChunk`) and handed to `write`
   * synchronously instead of being written into the verifier's stream, which
   * is never read; `settle` is called once, with nothing when all bytes
   * arrived and matched (`verifyEnd`), else with the error. A body that can
   * call the sink from its socket's read callback (`sinkTo`) does so.
   */
  sink?: { write: ChunkSink; settle: (err?: Error) => void } | undefined;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Moves response bodies into `verifier` with plain 'data' events and
 * backpressure (one hop per chunk), or into `o.sink`, resuming on connection
 * failures: ends the verifier (settles the sink) when a body ends, destroys
 * it with the error otherwise, and destroys the current body when the
 * verifier is destroyed by its consumer.
 */
export function pumpBody(first: RegistryResponse, verifier: VerifyingStream, o: PumpOptions): void {
  new BodyPump(first, verifier, o).start();
}

/** The state of one {@link pumpBody}. */
class BodyPump {
  #res: RegistryResponse;
  #skip = 0;
  #attempts = 1;
  #received = 0;
  #done = false;
  #waitingDrain = false;
  readonly #guard: ThroughputGuard | undefined;

  constructor(
    first: RegistryResponse,
    private readonly verifier: VerifyingStream,
    private readonly o: PumpOptions,
  ) {
    this.#res = first;
    this.#guard =
      o.policy === undefined
        ? undefined
        : new ThroughputGuard(o.policy, o.what, (err) => {
            if (!this.#done && !this.#waitingDrain) this.#res.body.destroy(err);
          });
  }

  start(): void {
    this.verifier.on('close', this.#onVerifierClose);
    // Errors reach the consumer through the stream's state and its own listeners;
    // this one only keeps an error raised before the consumer listens from crashing.
    this.verifier.on('error', () => undefined);
    this.#attach();
  }

  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    this.#guard?.excuse();
    if (!this.#done) this.#res.body.resume();
  };

  readonly #onData = (chunk: Buffer | Uint8Array): void => {
    if (this.#done || this.verifier.destroyed) return; // 'close' follows and stops the body
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#skip > 0) {
      if (buf.length <= this.#skip) {
        this.#skip -= buf.length;
        return;
      }
      buf = buf.subarray(this.#skip);
      this.#skip = 0;
    }
    this.#received += buf.length;
    this.#guard?.add(buf.length);
    this.o.onProgress?.(this.#received);
    const sink = this.o.sink;
    if (sink !== undefined) {
      try {
        this.verifier.verifyChunk(buf);
        sink.write(buf);
      } catch (err) {
        this.#finish(err);
        this.#dropBody();
      }
    } else if (!this.verifier.write(buf) && !this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#guard?.excuse();
      this.#res.body.pause();
      this.verifier.once('drain', this.#onDrain);
    }
  };

  #attach(): void {
    const body = this.#res.body;
    if (this.o.sink !== undefined && isSinkableBody(body)) body.sinkTo(this.#onData);
    else body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    body.on('error', this.#onError);
    if (this.#waitingDrain) body.pause();
  }

  #detach(): void {
    const body = this.#res.body;
    if (isSinkableBody(body)) body.sinkTo(undefined);
    body.off('data', this.#onData);
    body.off('end', this.#onEnd);
    body.off('error', this.#onError);
  }

  /** Stops the current body (its late errors are ignored). */
  #dropBody(): void {
    this.#res.body.on('error', () => undefined);
    this.#res.body.destroy();
  }

  #finish(err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#guard?.stop();
    this.#detach();
    this.verifier.off('close', this.#onVerifierClose);
    const sink = this.o.sink;
    if (sink === undefined) {
      if (err === undefined) this.verifier.end();
      else this.verifier.destroy(toError(err));
      return;
    }
    let failure = err === undefined ? undefined : toError(err);
    if (failure === undefined) {
      try {
        this.verifier.verifyEnd();
      } catch (e) {
        failure = toError(e);
      }
    }
    this.verifier.destroy(); // never read in sink mode
    sink.settle(failure);
  }

  readonly #onEnd = (): void => this.#finish();

  readonly #onError = (err: unknown): void => {
    if (this.#done) return;
    this.#detach();
    this.#dropBody();
    if (this.#received === this.o.size && !isOrasError(err)) {
      this.#finish(); // all bytes arrived; the verifier judges them
      return;
    }
    if (!isResumable(err, this.o.signal)) {
      this.#finish(err);
      return;
    }
    if (this.#attempts >= this.o.maxAttempts) {
      this.#finish(this.#gaveUp(err));
      return;
    }
    this.#attempts++;
    this.o.resume(this.#received).then(
      (next) => {
        if (this.#done) {
          next.res.body.on('error', () => undefined);
          next.res.body.destroy();
          return;
        }
        this.#res = next.res;
        this.#skip = next.skip;
        this.#attach();
      },
      (err: unknown) => this.#finish(err),
    );
  };

  #gaveUp(err: unknown): OrasError {
    const slow = isOrasError(err) && err.code === 'ERR_ORAS_TIMEOUT';
    return new OrasError(
      slow ? 'ERR_ORAS_TIMEOUT' : 'ERR_ORAS_NETWORK',
      `${this.o.what}: ${slow ? (err as Error).message : 'connection lost'} at byte ${this.#received} of ${this.o.size} after ${this.#attempts} attempts`,
      {
        cause: err,
        hint: slow
          ? ((err as OrasError).hint ?? 'the registry is too slow')
          : 'the network or registry keeps dropping the download; retry later',
      },
    );
  }

  /** The consumer destroyed the verifier (or it failed): stop the transfer. */
  readonly #onVerifierClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#guard?.stop();
    this.#detach();
    this.#dropBody();
    const aborted =
      this.verifier.errored ?? Object.assign(new Error('the download was destroyed'), { name: 'AbortError' });
    this.o.sink?.settle(aborted);
  };
}
