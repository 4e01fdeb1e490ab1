import { closeSync, read } from 'node:fs';
import { Readable } from 'node:stream';

/**
 * A file opened for upload: a `Readable` (a fresh buffer per read, like `fs.createReadStream`)
 * that a pull-based consumer can instead read with {@link FileUploadSource.pullChunks}, two
 * buffers reused in turn.
 *
 * Why: a 1 GiB push through a stream read into 1,024 fresh 1 MiB buffers, and on a VM where the
 * first touch of a page costs ~10 µs those pages alone (~60,000 faults) were ~0.6 s of the
 * client's ~2.8 s of CPU, beside a registry that needs the same cores (bench/analysis.md,
 * round 17).
 */
export class FileUploadSource extends Readable {
  readonly #fd: number;
  readonly #chunkBytes: number;
  #closed = false;
  #pulling = false;
  /** The read in flight, if any: the descriptor is closed only once it has settled. */
  #inflight: Promise<number> | undefined;

  /**
   * @param fd - an open descriptor positioned at the start of the content; owned from now on
   *   (closed at the end, on destroy, or when pulling stops).
   * @param chunkBytes - the size of each read.
   */
  constructor(fd: number, chunkBytes: number) {
    super({ highWaterMark: chunkBytes });
    this.#fd = fd;
    this.#chunkBytes = chunkBytes;
  }

  override _read(): void {
    const buf = Buffer.allocUnsafeSlow(this.#chunkBytes);
    this.#readInto(buf).then(
      (n) => this.push(n === 0 ? null : buf.subarray(0, n)),
      (err: unknown) => this.destroy(err as Error),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const inflight = this.#inflight;
    if (inflight === undefined) this.#close();
    else void inflight.finally(() => this.#close()).catch(() => undefined);
    cb(err);
  }

  /**
   * The content as chunks read into two buffers used in turn, so **a chunk's memory is read into
   * again two chunks later**. Only for a consumer that asks for the next chunk once it holds at most
   * the one before: undici's loop over a request body does (it writes a chunk to the socket and,
   * when the socket does not take a chunk this large at once, waits for `drain`, i.e. until the
   * socket holds nothing, before it asks for the next). Once per source, before any other read;
   * the descriptor is closed when the iteration ends, however it ends. A destroyed source stops it.
   */
  async *pullChunks(): AsyncGenerator<Buffer, void, undefined> {
    if (this.#pulling || this.readableDidRead || this.destroyed)
      throw new Error('FileUploadSource: pullChunks() needs a source that nothing has read yet');
    this.#pulling = true;
    const buffers = [Buffer.allocUnsafeSlow(this.#chunkBytes), Buffer.allocUnsafeSlow(this.#chunkBytes)];
    try {
      for (let i = 0; ; i++) {
        if (this.destroyed) throw new Error('the upload source was closed');
        const buf = buffers[i % 2]!;
        const n = await this.#readInto(buf);
        if (n === 0) return;
        yield buf.subarray(0, n);
      }
    } finally {
      this.#close();
    }
  }

  #readInto(buf: Buffer): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('the upload source was closed'));
    const p = new Promise<number>((resolve, reject) =>
      read(this.#fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))),
    );
    this.#inflight = p;
    const clear = (): void => {
      if (this.#inflight === p) this.#inflight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.#fd);
    } catch {
      /* already gone: nothing to release */
    }
  }
}

/** True when `source` is a {@link FileUploadSource} that can still be pulled. */
export function canPullChunks(source: unknown): source is FileUploadSource {
  return source instanceof FileUploadSource && !source.readableDidRead && !source.destroyed;
}
