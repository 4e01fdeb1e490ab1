import { ftruncateSync } from 'node:fs';
import { writeAllSync } from './fs-atomic.js';

/** Text pieces are encoded and written once this many characters are pending (at most 192 KiB of UTF-8). */
const FLUSH_CHARS = 64 * 1024;
const SCRATCH_BYTES = 256 * 1024;

/**
 * Writes a large text to a file descriptor piece by piece, synchronously: pieces are collected
 * until ~64 Ki characters are pending, then encoded as UTF-8 into one reused 256 KiB buffer and
 * written at the writer's own position (positional writes: the descriptor's offset is not used).
 * Every chunk of bytes is shown to `onBytes` (a hash) before it is written, so the text's digest
 * comes out of the same single encoding. The whole text never exists as one string or buffer.
 * Callers must {@link PieceWriter.flush} at the end.
 */
export class PieceWriter {
  private pending: string[] = [];
  private chars = 0;
  private position: number;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  /**
   * @param fd - an open, writable descriptor.
   * @param start - file offset of the first byte written (default 0).
   * @param onBytes - sees every chunk of the encoded text, in order.
   */
  constructor(
    private readonly fd: number,
    private readonly start = 0,
    private onBytes: (bytes: Uint8Array) => void = () => undefined,
  ) {
    this.position = start;
  }

  /** Adds `piece` to the text; writes what is pending once enough has been collected. */
  push(piece: string): void {
    this.pending.push(piece);
    this.chars += piece.length;
    if (this.chars >= FLUSH_CHARS) this.flush();
  }

  /** Encodes and writes everything pending. */
  flush(): void {
    const text = this.pending.join('');
    this.pending = [];
    this.chars = 0;
    if (text === '') return;
    // A piece longer than the scratch buffer can hold (a path of ~20,000 characters) is encoded on its own.
    const bytes =
      text.length * 3 <= this.scratch.length
        ? this.scratch.subarray(0, this.scratch.write(text, 0, 'utf8'))
        : Buffer.from(text, 'utf8');
    this.onBytes(bytes);
    writeAllSync(this.fd, bytes, this.position);
    this.position += bytes.length;
  }

  /**
   * Drops what is pending, cuts the file back to `start` and starts the text again, with
   * `onBytes` as the new listener: for a writer that finds, part way, that it must write
   * something else.
   */
  restart(onBytes: (bytes: Uint8Array) => void): void {
    this.pending = [];
    this.chars = 0;
    this.position = this.start;
    this.onBytes = onBytes;
    ftruncateSync(this.fd, this.start);
  }
}
