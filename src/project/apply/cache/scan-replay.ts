import type { TarBody, TarScanVisitor } from '../../../artifact/tar-scan.js';
import { OrasError } from '../../../errors.js';

/*
 * A cold install reads each new directory layer twice: once to derive its
 * listing (every file hashed, for the lock) and once to place the files the
 * plan writes. For a layer of small files the second read (gunzip, tar parse,
 * a SHA-256 per file) cost as much as writing the files. So while the listing
 * is derived, the scan can be recorded: every entry that passed the tar rules,
 * with the bytes of each regular file and the digest this process computed
 * from exactly those bytes. Placement then replays the record instead of
 * reading the blob again, and a file whose recorded digest is the locked one
 * is not hashed a second time. Records are kept within a byte budget (a layer
 * that does not fit is not recorded), only once the whole scan passed (the
 * blob's own digest checked at its end), and are used once.
 */

/** The bytes of one regular file, hashed by this process while its layer's verified blob was scanned. */
export class HashedBody implements Iterable<Uint8Array> {
  /** The file's bytes (a private copy: nothing else holds them). */
  readonly bytes: Buffer;
  /** `sha256:` digest of {@link HashedBody.bytes}, computed from them by this process. */
  readonly digest: string;

  constructor(bytes: Buffer, digest: string) {
    this.bytes = bytes;
    this.digest = digest;
  }

  *[Symbol.iterator](): Iterator<Uint8Array> {
    yield this.bytes;
  }
}

type ReplayEntry =
  | { kind: 'file'; rel: string; mode: number; body: HashedBody }
  | { kind: 'directory'; rel: string; mode: number | undefined }
  | { kind: 'symlink'; rel: string; target: string }
  | { kind: 'link'; rel: string; target: string; origin: string };

/** A completed scan of one layer, as its visitor saw it (see the module comment). */
export interface ScanReplay {
  entries: ReplayEntry[];
  /** The uncompressed digest the recorded scan checked (its `expectedUncompressedDigest`), if any. */
  checkedUncompressed: string | undefined;
  /** What the record holds, counted against the budget (file bytes plus a per-entry overhead). */
  cost: number;
}

/** Budget cost of one entry's bookkeeping, beyond the bytes of a file. */
const ENTRY_COST = 256;

/**
 * Records one scan while a visitor (the listing's) runs: {@link ScanRecorder.wrap} returns the
 * visitor to hand to the scan; the record is given up (and its memory released) once it would
 * exceed `budget` or a file's bytes do not arrive as one view.
 */
export class ScanRecorder {
  private entries: ReplayEntry[] | undefined = [];
  private cost = 0;

  constructor(private readonly budget: number) {}

  private add(entry: ReplayEntry, bytes: number): void {
    if (this.entries === undefined) return;
    this.cost += ENTRY_COST + bytes;
    if (this.cost > this.budget) this.entries = undefined;
    else this.entries.push(entry);
  }

  /**
   * Records a regular file the inner visitor hashed to `digest`. `body` must be the one-view body
   * the scan handed over (entries up to 1 MiB); any other shape gives the record up.
   */
  file(rel: string, mode: number, body: TarBody, digest: string): void {
    if (this.entries === undefined) return;
    const view = Array.isArray(body) && body.length === 1 ? (body[0] as Uint8Array) : undefined;
    if (view === undefined) {
      this.entries = undefined;
      return;
    }
    // A copy: the scan's views are only valid until the visitor settles.
    this.add({ kind: 'file', rel, mode, body: new HashedBody(Buffer.from(view), digest) }, view.byteLength);
  }

  /** `inner` with its directory, symlink and link entries recorded (files are recorded by the caller, see {@link ScanRecorder.file}). */
  wrap(inner: TarScanVisitor): TarScanVisitor {
    return {
      ...(inner.file !== undefined ? { file: inner.file.bind(inner) } : {}),
      directory: (rel, mode) => {
        this.add({ kind: 'directory', rel, mode }, 0);
        return inner.directory?.(rel, mode);
      },
      symlink: (rel, target) => {
        this.add({ kind: 'symlink', rel, target }, 0);
        return inner.symlink?.(rel, target);
      },
      link: (rel, target, origin) => {
        this.add({ kind: 'link', rel, target, origin }, 0);
        return inner.link?.(rel, target, origin);
      },
    };
  }

  /** The record of the completed scan (undefined when it was given up). */
  finish(checkedUncompressed: string | undefined): ScanReplay | undefined {
    return this.entries === undefined ? undefined : { entries: this.entries, checkedUncompressed, cost: this.cost };
  }
}

/**
 * Reports a recorded scan to `visitor` in its original order, awaiting each call like the scan
 * does; an error the visitor throws is rethrown as is, and an aborted `signal` stops it with
 * `ERR_ORAS_ABORTED`.
 */
export async function replayScan(
  replay: ScanReplay,
  visitor: TarScanVisitor,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const e of replay.entries) {
    if (signal?.aborted === true) throw new OrasError('ERR_ORAS_ABORTED', 'reading the archive was aborted');
    if (e.kind === 'file') await visitor.file?.(e.rel, e.mode, e.body.bytes.length, e.body);
    else if (e.kind === 'directory') await visitor.directory?.(e.rel, e.mode);
    else if (e.kind === 'symlink') await visitor.symlink?.(e.rel, e.target);
    else await visitor.link?.(e.rel, e.target, e.origin);
  }
}
