/**
 * Hashing off the main thread: a small pool of `worker_threads` workers, each
 * with a 2 MiB SharedArrayBuffer ring that the main thread copies chunks into
 * and the worker hashes from (SHA-256 of one stream is sequential; moving it to
 * another core lets receiving/writing and hashing overlap).
 *
 * Workers are created lazily, at most {@link HASH_WORKER_LIMIT} at a time, are
 * `unref()`ed whenever the main thread is not waiting on them (an idle or
 * abandoned worker never keeps the process alive), are reused after a job that
 * completed, and are terminated after any abort or error.
 *
 * Off by default: see {@link HASH_OFFLOAD_DEFAULT} for the measurement behind
 * that and the `ORAS_HASH_WORKERS=1` switch.
 */
import { availableParallelism } from 'node:os';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { OrasError } from '../errors.js';
import { HASH_WORKER_SOURCE } from './hash-worker-source.js';

/**
 * Content of at least this many bytes (64 MiB) is hashed in a worker. Starting
 * a worker costs ~50 ms of CPU (measured), about what hashing 64 MiB inline
 * costs, so smaller content is hashed inline unless a worker is already idle
 * in the pool (see {@link HASH_OFFLOAD_WARM_THRESHOLD}).
 */
export const HASH_OFFLOAD_THRESHOLD = 64 * 1024 * 1024;

/** With an idle (already started) worker in the pool, content of at least this many bytes (8 MiB) is hashed in it. */
export const HASH_OFFLOAD_WARM_THRESHOLD = 8 * 1024 * 1024;

/**
 * Whether streams and files are hashed in workers by default: only when the
 * environment sets `ORAS_HASH_WORKERS=1`. Measured on the 2-core benchmark
 * machine (docs/BENCHMARKS.md, "Hash offload"), a 1 GiB pull with the worker
 * was slower (3.4–3.9 s vs 2.9–3.0 s inline, idle machine): client, worker and
 * the co-located registry compete for two cores, and the ring copy and
 * signalling add ~0.5 s of CPU per GiB. The gain needs a spare core and a
 * source faster than one core hashes (~1.4 GB/s), which was not available to
 * measure, so it stays opt-in. An explicit `offload` option wins over this.
 */
export const HASH_OFFLOAD_DEFAULT = process.env.ORAS_HASH_WORKERS === '1';

/**
 * Mutable settings read at each decision (tests enable offloading and lower
 * `threshold` to exercise the worker path with small content). @internal
 */
export const hashOffloadSettings = { enabled: HASH_OFFLOAD_DEFAULT, threshold: HASH_OFFLOAD_THRESHOLD, warmThreshold: HASH_OFFLOAD_WARM_THRESHOLD };

/** Whether content of `size` bytes should be hashed in a worker (offloading enabled, and by the thresholds above). @internal */
export function shouldOffload(size: number): boolean {
  if (!hashOffloadSettings.enabled) return false;
  return size >= hashOffloadSettings.threshold || (size >= hashOffloadSettings.warmThreshold && idle.length > 0);
}

/** Maximum number of hash workers alive at once (`os.availableParallelism()`); beyond it hashing falls back to inline. */
export const HASH_WORKER_LIMIT = Math.max(1, availableParallelism());

const RING_BYTES = 2 * 1024 * 1024; // power of two
const MASK31 = 0x7fffffff;
const W = 0;
const R = 1;
const STATE = 2;
const BELL = 3;
const SLEEPING = 4;
const MAIN_WAITING = 5;
/** The worker is woken once this much is pending (fewer futex calls than one per chunk). */
const WAKE_BYTES = 512 * 1024;
const WAIT_SLICE_MS = 1000;

/** `Atomics.waitAsync` (Node ≥ 16; typed in lib es2024, this project targets es2023). */
const waitAsync = (Atomics as unknown as {
  waitAsync(ta: Int32Array, index: number, value: number, timeout: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

interface JobResult {
  type: 'digest' | 'aborted' | 'error';
  hex?: string;
  size?: number;
  message?: string;
  code?: string;
  job: number;
}

let live = 0;
let threads = 0;
const idle: HashWorker[] = [];
const all = new Set<HashWorker>();

function workerFailed(cause: unknown): OrasError {
  return new OrasError('ERR_ORAS_IO', `hash worker failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
    cause,
    hint: 'the background hashing thread stopped unexpectedly; retry (hashing falls back to the main thread when no worker can run)',
  });
}

/** One worker thread with its ring; runs one job at a time. */
class HashWorker {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(32));
  readonly data = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  readonly worker: Worker;
  dead = false;
  #job = 0;
  #pending: { job: number; resolve: (r: JobResult) => void; reject: (e: Error) => void } | undefined;

  constructor() {
    this.worker = new Worker(HASH_WORKER_SOURCE, {
      eval: true,
      env: SHARE_ENV,
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 },
    });
    live++;
    threads++;
    all.add(this);
    this.worker.unref();
    this.worker.postMessage({ type: 'init', ctrl: this.ctrl.buffer, data: this.data.buffer });
    this.worker.on('message', (m: JobResult) => {
      const p = this.#pending;
      if (p && m.job === p.job) {
        this.#pending = undefined;
        p.resolve(m);
      }
    });
    this.worker.on('error', (err) => this.#die(err));
    this.worker.on('exit', (code) => {
      threads--;
      all.delete(this);
      this.#die(new Error(`exited with code ${code}`));
    });
  }

  /** Starts a job; the result promise settles with the worker's answer or rejects when the worker dies. */
  start(msg: Record<string, unknown>): Promise<JobResult> {
    Atomics.store(this.ctrl, W, 0);
    Atomics.store(this.ctrl, R, 0);
    Atomics.store(this.ctrl, STATE, 0);
    Atomics.store(this.ctrl, MAIN_WAITING, 0);
    const job = ++this.#job;
    const result = new Promise<JobResult>((resolve, reject) => {
      this.#pending = { job, resolve, reject };
    });
    this.worker.postMessage({ ...msg, job });
    return result;
  }

  /** Signals a write (`force`: or a state change); wakes the worker only when it sleeps and enough is pending. */
  ring(force: boolean, pending = 0): void {
    Atomics.add(this.ctrl, BELL, 1);
    if ((force || pending >= WAKE_BYTES) && Atomics.load(this.ctrl, SLEEPING) === 1) Atomics.notify(this.ctrl, BELL);
  }

  /** Terminates the worker (idempotent); frees its slot at once. */
  kill(): void {
    if (this.dead) return;
    Atomics.store(this.ctrl, STATE, 2);
    this.ring(true);
    this.#die(new Error('terminated'));
    void this.worker.terminate().catch(() => undefined);
  }

  /** Returns the worker to the pool (after a completed job). */
  release(): void {
    if (this.dead) return;
    this.worker.unref();
    if (idle.length < HASH_WORKER_LIMIT) idle.push(this);
    else this.kill();
  }

  #die(err: Error): void {
    if (!this.dead) {
      this.dead = true;
      live--;
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
    }
    Atomics.notify(this.ctrl, R); // wake a main-thread writer waiting for space
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }
}

/** Takes an idle worker or starts one; undefined when {@link HASH_WORKER_LIMIT} workers are busy. */
function acquire(): HashWorker | undefined {
  const w = idle.pop();
  if (w) return w;
  if (live >= HASH_WORKER_LIMIT) return undefined;
  try {
    return new HashWorker();
  } catch {
    return undefined; // e.g. resource exhaustion: hash inline instead
  }
}

const abandoned = new FinalizationRegistry<HashWorker>((w) => w.kill());

/**
 * A running hash in a worker. Feed it with {@link OffloadedHash.update} (one
 * call at a time), then {@link OffloadedHash.digest} or
 * {@link OffloadedHash.abort}. Obtain one with {@link OffloadedHash.tryStart}.
 * @internal
 */
export class OffloadedHash {
  #w: HashWorker | undefined;
  readonly #result: Promise<JobResult>;
  #wc = 0;

  private constructor(w: HashWorker, algorithm: string) {
    this.#w = w;
    this.#result = w.start({ type: 'ring', algorithm, wakeBytes: WAKE_BYTES });
    this.#result.catch(() => undefined);
    abandoned.register(this, w, this);
  }

  /** Starts a hash in a worker, or returns undefined when none is available (hash inline then). */
  static tryStart(algorithm: string): OffloadedHash | undefined {
    const w = acquire();
    return w ? new OffloadedHash(w, algorithm) : undefined;
  }

  #worker(): HashWorker {
    const w = this.#w;
    if (!w || w.dead) throw workerFailed(new Error(w ? 'worker terminated' : 'hash already finished'));
    return w;
  }

  /**
   * Copies `chunk` into the ring. Returns undefined when it was taken at once,
   * or a promise that settles once all of it was taken (the ring was full).
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    const w = this.#worker();
    const { ctrl, data } = w;
    let off = 0;
    while (off < chunk.length) {
      const free = RING_BYTES - ((this.#wc - Atomics.load(ctrl, R)) & MASK31);
      if (free === 0) return this.#waitThen(chunk.subarray(off));
      const pos = this.#wc & (RING_BYTES - 1);
      const n = Math.min(free, chunk.length - off, RING_BYTES - pos);
      data.set(chunk.subarray(off, off + n), pos);
      off += n;
      this.#wc = (this.#wc + n) & MASK31;
      Atomics.store(ctrl, W, this.#wc);
    }
    w.ring(false, (this.#wc - Atomics.load(ctrl, R)) & MASK31);
    return undefined;
  }

  async #waitThen(rest: Uint8Array): Promise<void> {
    const w = this.#worker();
    w.ring(true);
    w.worker.ref();
    try {
      for (;;) {
        const r = Atomics.load(w.ctrl, R);
        if (((this.#wc - r) & MASK31) < RING_BYTES) break;
        if (w.dead) throw workerFailed(new Error('worker terminated'));
        Atomics.store(w.ctrl, MAIN_WAITING, 1);
        const res = waitAsync(w.ctrl, R, r, WAIT_SLICE_MS);
        if (res.async) await res.value;
      }
    } finally {
      Atomics.store(w.ctrl, MAIN_WAITING, 0);
      if (!w.dead) w.worker.unref();
    }
    const more = this.update(rest);
    if (more) await more;
  }

  /** Finishes the hash and returns its hex digest; the worker returns to the pool. */
  async digest(): Promise<string> {
    const w = this.#worker();
    Atomics.store(w.ctrl, STATE, 1);
    w.ring(true);
    w.worker.ref();
    let res: JobResult;
    try {
      res = await this.#result;
    } catch (err) {
      this.abort();
      throw workerFailed(err);
    }
    this.#w = undefined;
    abandoned.unregister(this);
    if (res.type !== 'digest' || res.hex === undefined) {
      w.kill();
      throw workerFailed(new Error(res.message ?? res.type));
    }
    w.release();
    return res.hex;
  }

  /** Stops the hash and terminates its worker (idempotent; a no-op after {@link digest}). */
  abort(): void {
    const w = this.#w;
    this.#w = undefined;
    abandoned.unregister(this);
    w?.kill();
  }
}

/**
 * Hashes a file in a worker (the worker reads it). Resolves undefined when no
 * worker is available (the caller hashes inline then). Rejects with the
 * worker's error (`code` set, e.g. `ENOENT`) or `ERR_ORAS_ABORTED`.
 * @internal
 */
export async function hashFileInWorker(path: string, algorithm: string, signal?: AbortSignal): Promise<{ hex: string; size: number } | undefined> {
  signal?.throwIfAborted();
  const w = acquire();
  if (!w) return undefined;
  const result = w.start({ type: 'file', path, algorithm });
  w.worker.ref();
  const onAbort = (): void => w.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  let res: JobResult;
  try {
    res = await result;
  } catch (err) {
    w.kill();
    if (signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', `hashing ${path}: aborted`, { cause: signal.reason });
    throw workerFailed(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (res.type === 'digest' && res.hex !== undefined && res.size !== undefined) {
    w.release();
    return { hex: res.hex, size: res.size };
  }
  w.kill();
  const err = new Error(res.message ?? res.type) as NodeJS.ErrnoException;
  if (res.code !== undefined) err.code = res.code;
  throw err;
}

/**
 * Counts of hash workers (for tests and diagnostics): `live` hold a slot,
 * `idle` wait in the pool, `threads` have not exited yet. @internal
 */
export function hashWorkerStats(): { live: number; idle: number; busy: number; threads: number } {
  return { live, idle: idle.length, busy: live - idle.length, threads };
}

/** Terminates every hash worker, busy ones too (their hashes fail with `ERR_ORAS_IO`). For tests. @internal */
export function terminateHashWorkers(): void {
  for (const w of [...all]) w.kill();
}

/** Terminates idle hash workers (they never keep the process alive; this frees their memory early). */
export function closeIdleHashWorkers(): void {
  for (const w of idle.splice(0)) w.kill();
}
