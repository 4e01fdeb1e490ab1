import { Worker } from 'node:worker_threads';
import { OrasError } from '../../errors.js';
import type { Placed } from './materialize.js';

/*
 * A thread that creates files in staging directories while the main thread goes on (see
 * prefill.ts): a cold install hashes a layer's files (the listing) on the main thread, and this
 * thread writes the same bytes at the same time, on the machine's other core. Creating a file is
 * a few system calls that cost about as much as hashing it, so doing both on one thread took the
 * sum of the two, and on two threads it takes about the longer one.
 *
 * The thread only creates: each directory of a file's path (once), then the file itself with
 * O_CREAT|O_EXCL|O_NOFOLLOW (never through an existing name), its bytes, its mode (0644, or 0755),
 * and its stat for the install state. Every path it is given starts with a `/proc/self/fd/<fd>`
 * route to a staging directory the main thread created and opened (layer-stage.ts): descriptors
 * belong to the process, so the thread writes into that very directory, whatever happens to its
 * name. It is given only relative paths the tar rules accepted (no `..`, no absolute path), and
 * creates only directories and regular files, so nothing it creates can lead outside the stage.
 *
 * Its code is the function below, sent as text (`eval`): the CLI is one bundled script, and a
 * worker file beside it would have to be found at run time from the bundle and from the module
 * tree alike. The function uses nothing but its parameters (Node's `fs` and the port).
 */

/** One batch: files of one job, their bytes back to back in `buf`. */
interface BatchMessage {
  job: number;
  /** The `/proc/self/fd/<fd>` route of the job's staging directory. */
  via: string;
  rels: string[];
  modes: number[];
  /** End offset of each file's bytes in `buf`. */
  ends: number[];
  buf: ArrayBuffer;
}

/**
 * The thread's answer to one batch: `stats` holds size, mtimeMs and ino per file; or the first
 * failure. The batch's buffer comes back with it, for the next batch (the thread would otherwise
 * hold it until its own garbage collection, which, allocating little, it seldom runs).
 */
type BatchReply = { job: number; buf: ArrayBuffer } & (
  { ok: true; stats: number[] } | { ok: false; message: string; code?: string }
);

/** The writer thread's code (runs in the worker; see the module comment). */
function writerThread(fs: typeof import('node:fs'), port: import('node:worker_threads').MessagePort): void {
  const C = fs.constants;
  const jobs = new Map<number, { dirs: Set<string>; failed: boolean }>();
  port.on('message', (m: BatchMessage | { job: number; drop: true }) => {
    if ('drop' in m) {
      jobs.delete(m.job);
      return;
    }
    let job = jobs.get(m.job);
    if (job === undefined) {
      job = { dirs: new Set<string>(), failed: false };
      jobs.set(m.job, job);
    }
    if (job.failed) {
      port.postMessage({ job: m.job, buf: m.buf, ok: false, message: 'skipped' }, [m.buf]);
      return;
    }
    const buf = Buffer.from(m.buf);
    const stats: number[] = [];
    let start = 0;
    try {
      for (let i = 0; i < m.rels.length; i++) {
        const rel = m.rels[i] as string;
        const end = m.ends[i] as number;
        const mode = m.modes[i] as number;
        for (let at = rel.indexOf('/'); at >= 0; at = rel.indexOf('/', at + 1)) {
          const dir = rel.slice(0, at);
          if (job.dirs.has(dir)) continue;
          try {
            fs.mkdirSync(`${m.via}/${dir}`);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.lstatSync(`${m.via}/${dir}`).isDirectory())
              throw err;
          }
          job.dirs.add(dir);
        }
        const path = `${m.via}/${rel}`;
        const fd = fs.openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
        try {
          for (let at = start; at < end;) at += fs.writeSync(fd, buf, at, end - at);
          const st = fs.fstatSync(fd);
          if ((st.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
          stats.push(end - start, st.mtimeMs, st.ino);
        } finally {
          fs.closeSync(fd);
        }
        start = end;
      }
    } catch (err) {
      job.failed = true;
      const e = err as NodeJS.ErrnoException;
      const reply = {
        job: m.job,
        buf: m.buf,
        ok: false,
        message: String(e.message),
        ...(e.code ? { code: e.code } : {}),
      };
      port.postMessage(reply, [m.buf]);
      return;
    }
    port.postMessage({ job: m.job, buf: m.buf, ok: true, stats }, [m.buf]);
  });
}

/** Files per batch sent to the thread (256), and bytes per batch (256 KiB): a message per ~5-10 ms of its work. */
const BATCH_FILES = 256;
const BATCH_BYTES = 256 * 1024;
/** Batch buffers kept for reuse (4). */
const MAX_SPARES = 4;
/**
 * The thread's V8 heap, kept small: it holds a batch's names and stats at a time. Measured on the
 * cold install of 20,000 files of 1 KiB (peak RSS of the process, issue 14's limit 150 MiB):
 * default limits and 8 MiB in flight 147-152 MiB; these and 2 MiB in flight 137-144 MiB (three
 * interleaved runs each; bench/analysis.md, round 23). A thread that runs out of this heap stops
 * with an error, and its stages are placed as before.
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 2, stackSizeMb: 1 };
/** Bookkeeping counted per file in flight, beyond its bytes. */
const FILE_COST = 256;

/** The files of one staging directory, written by the thread (see {@link StageWriter.job}). */
export class StageJob {
  private rels: string[] = [];
  private modes: number[] = [];
  private ends: number[] = [];
  /** The batch being filled: each file's bytes copied in as it is queued. */
  private buf: Uint8Array | undefined;
  private used = 0;
  private readonly placed: Placed[] = [];
  private sent = 0;
  private answered = 0;
  private failure: Error | undefined;
  private settled: (() => void) | undefined;

  constructor(
    private readonly writer: StageWriter,
    readonly id: number,
    private readonly via: string,
  ) {}

  /**
   * Queues one file (`rel` below the staging directory, `mode` 0644 or 0755, its verified bytes,
   * copied at once). Returns a promise when the thread is behind by more than the writer's
   * budget: await it before queuing more.
   */
  file(rel: string, mode: number, data: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) return undefined;
    let wait: Promise<void> | undefined;
    if (this.buf !== undefined && this.used + data.byteLength > this.buf.byteLength) wait = this.flush();
    this.buf ??= this.writer.buffer(Math.max(BATCH_BYTES, data.byteLength));
    this.buf.set(data, this.used);
    this.used += data.byteLength;
    this.ends.push(this.used);
    this.rels.push(rel);
    this.modes.push(mode === 0o755 ? 0o755 : 0o644);
    if (this.rels.length >= BATCH_FILES) return this.flush() ?? wait;
    return wait;
  }

  private flush(): Promise<void> | undefined {
    const buf = this.buf;
    if (buf === undefined || this.rels.length === 0 || this.failure !== undefined) return undefined;
    const msg: BatchMessage = {
      job: this.id,
      via: this.via,
      rels: this.rels,
      modes: this.modes,
      ends: this.ends,
      buf: buf.buffer as ArrayBuffer,
    };
    const cost = this.used + FILE_COST * this.rels.length;
    this.rels = [];
    this.modes = [];
    this.ends = [];
    this.buf = undefined;
    this.used = 0;
    this.sent += 1;
    return this.writer.send(this, msg, cost);
  }

  /** @internal The thread's answer to one of this job's batches. */
  answer(reply: BatchReply): void {
    this.answered += 1;
    if (reply.ok) {
      const s = reply.stats;
      for (let i = 0; i + 2 < s.length; i += 3)
        this.placed.push({ size: s[i] as number, mtimeMs: s[i + 1] as number, ino: s[i + 2] as number });
    } else
      this.failure ??= new OrasError('ERR_ORAS_IO', `cannot write a staged file: ${reply.message}`, {
        ...(reply.code !== undefined ? { details: { errno: reply.code } } : {}),
      });
    if (this.answered >= this.sent) this.settled?.();
  }

  /** @internal The thread is gone: this job can get no more answers. */
  abandon(err: Error): void {
    this.failure ??= err;
    this.answered = this.sent;
    this.settled?.();
  }

  /**
   * Sends what is queued and waits for the thread to have written every file: their stats, in
   * the order queued, or the first failure (the thread wrote nothing of the job after it).
   */
  async finish(): Promise<Placed[]> {
    await this.flush();
    if (this.answered < this.sent && this.failure === undefined)
      await new Promise<void>((resolve) => (this.settled = resolve));
    this.settled = undefined;
    this.writer.drop(this);
    if (this.failure !== undefined) throw this.failure;
    return this.placed;
  }
}

/**
 * The writer thread (started at the first job) and the bytes sent to it and not yet written,
 * bounded by `budgetBytes` (callers wait beyond it). {@link StageWriter.close} stops the thread.
 */
export class StageWriter {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, StageJob>();
  private nextId = 1;
  private inFlight = 0;
  private readonly costs: Array<{ job: StageJob; cost: number }> = [];
  private waiters: Array<() => void> = [];
  private dead: Error | undefined;
  /** Batch buffers the thread gave back. */
  private readonly spares: Uint8Array[] = [];

  constructor(private readonly budgetBytes = 2 * 1024 * 1024) {}

  /** A new job writing into the directory reached through `via` (a `/proc/self/fd/<fd>` route). */
  job(via: string): StageJob {
    const job = new StageJob(this, this.nextId++, via);
    this.jobs.set(job.id, job);
    return job;
  }

  /** Starts the thread now (it takes ~0.1 s to boot), when a job is likely to come. */
  warm(): void {
    if (this.dead === undefined) this.start();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const code = `(${writerThread.toString()})(require('node:fs'), require('node:worker_threads').parentPort)`;
    const worker = new Worker(code, { eval: true, resourceLimits: THREAD_LIMITS });
    worker.on('message', (reply: BatchReply) => this.answered(reply));
    const fail = (err: Error): void => {
      this.dead = new OrasError('ERR_ORAS_IO', `the staging writer stopped: ${err.message}`, { cause: err });
      for (const job of this.jobs.values()) job.abandon(this.dead);
      this.release(Infinity);
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('thread exited')));
    this.worker = worker;
    return worker;
  }

  /** @internal Sends one batch (its buffer moved, not copied); a promise while over budget. */
  send(job: StageJob, msg: BatchMessage, cost: number): Promise<void> | undefined {
    if (this.dead !== undefined) {
      job.abandon(this.dead);
      return undefined;
    }
    this.start().postMessage(msg, [msg.buf]);
    this.costs.push({ job, cost });
    this.inFlight += cost;
    if (this.inFlight <= this.budgetBytes) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A buffer of at least `size` bytes for a batch: one the thread gave back when it fits. */
  buffer(size: number): Uint8Array {
    const spare = this.spares.pop();
    return spare !== undefined && spare.byteLength >= size ? spare : new Uint8Array(size);
  }

  private answered(reply: BatchReply): void {
    if (this.spares.length < MAX_SPARES) this.spares.push(new Uint8Array(reply.buf));
    const i = this.costs.findIndex((c) => c.job.id === reply.job);
    const freed = i >= 0 ? this.costs.splice(i, 1)[0]!.cost : 0;
    this.jobs.get(reply.job)?.answer(reply);
    this.release(freed);
  }

  private release(freed: number): void {
    this.inFlight = Math.max(0, this.inFlight - freed);
    if (this.inFlight > this.budgetBytes) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** @internal Forgets a finished job (the thread too). */
  drop(job: StageJob): void {
    this.jobs.delete(job.id);
    let freed = 0; // batches the thread skipped after the job failed
    for (let i = this.costs.length - 1; i >= 0; i--)
      if (this.costs[i]!.job === job) freed += this.costs.splice(i, 1)[0]!.cost;
    this.worker?.postMessage({ job: job.id, drop: true });
    this.release(freed);
  }

  /** Stops the thread (after the jobs the caller finished or abandoned). Idempotent. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    worker.removeAllListeners('exit');
    this.dead ??= new OrasError('ERR_ORAS_IO', 'the staging writer was closed');
    for (const job of this.jobs.values()) job.abandon(this.dead);
    await worker.terminate();
  }
}
