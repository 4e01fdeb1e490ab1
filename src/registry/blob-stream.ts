import type { ChunkSink, ChunkSource } from '../content/chunk-source.js';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { VerifyingStream } from '../oci/digest.js';
import type { PumpOptions } from './blob-pump.js';

/** Starts moving the response into the stream (no sink) or into a sink. */
export type PumpStarter = (stream: BlobStream, sink: PumpOptions['sink']) => void;

/**
 * The stream a registry blob download returns: a {@link VerifyingStream}
 * (it errors instead of ending on any size or digest mismatch) whose
 * transfer starts on the first read, or, instead, on {@link BlobStream.pumpTo}
 * (the {@link ChunkSource} capability: a consumer that writes a file hashes
 * and writes each chunk in one synchronous step, from the socket's reused
 * read buffer when the connection allows it). Destroying it before either
 * one drops the response.
 */
export class BlobStream extends VerifyingStream implements ChunkSource {
  #start: PumpStarter | undefined;
  readonly #drop: () => void;

  /** `drop` releases the response when the stream is destroyed before its transfer started. */
  constructor(desc: Descriptor, what: string, start: PumpStarter, drop: () => void) {
    super(desc, { what });
    this.#start = start;
    this.#drop = drop;
  }

  /** See {@link ChunkSource.canPump}. */
  get canPump(): boolean {
    return this.#start !== undefined && !this.destroyed;
  }

  /** See {@link ChunkSource.pumpTo}. */
  async pumpTo(sink: ChunkSink): Promise<void> {
    const start = this.#take();
    if (start === undefined || this.destroyed) {
      throw new OrasError('ERR_ORAS_USAGE', `${this.expected.digest}: the download was already read or destroyed`);
    }
    await new Promise<void>((resolve, reject) => {
      start(this, { write: sink, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  override _read(size: number): void {
    this.#take()?.(this, undefined);
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#take() !== undefined) this.#drop();
    super._destroy(err, cb);
  }

  #take(): PumpStarter | undefined {
    const start = this.#start;
    this.#start = undefined;
    return start;
  }
}
