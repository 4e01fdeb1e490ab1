/**
 * The client's own HTTP/1.1 GET, used for large blob downloads instead of
 * undici. Why: on a 1 GiB pull, undici's reader (a copy of every byte into the
 * WASM parser's memory, a 64 KiB Buffer and several stream hops per read) cost
 * ~0.6 s of CPU more than reading the socket directly, on a machine whose two
 * cores also run the registry (numbers in bench/analysis.md, round 7).
 *
 * Scope, kept small on purpose: one request per connection (`Connection:
 * close`; a large download amortises the handshake), GET only, no request
 * body. The connection comes from the same connector as the client's undici
 * Agent, so TLS options, the vetted resolver (no metadata addresses for hosts
 * the caller did not name), `--resolve` and the connect timeout are the same.
 * Auth, redirects, retries and resumes stay in the client: this is one hop.
 *
 * Plain-HTTP connections read with the socket's `onread` option: the kernel
 * copies into one reused buffer ({@link directOnRead}) and no Buffer is
 * allocated per read. Bytes that must outlive the read callback (a partial
 * head, body bytes read as a stream) are copied; a body handed to a
 * synchronous consumer (`sinkTo`) passes views of that buffer, so the bytes
 * are hashed and written while they are still in the CPU cache. TLS sockets
 * read as usual (fresh buffers), and take the same paths.
 *
 * Errors carry the codes the client's network-error mapping already knows:
 * `UND_ERR_SOCKET` (connection closed before the message ended: retryable and
 * resumable), `UND_ERR_HEADERS_TIMEOUT` / `UND_ERR_BODY_TIMEOUT` (silence
 * longer than `idleMs`), `HPE_INVALID` (a malformed response), or the
 * socket's own (`ECONNRESET`, TLS codes). An abort destroys the connection.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  bodyFraming,
  ChunkedDecoder,
  Http1ParseError,
  MAX_HEAD_BYTES,
  parseHead,
  type BodyFraming,
  type Http1Head,
} from './http1-parse.js';

/** undici's connector contract (`buildConnector`): calls back with a connected socket. */
export type DirectConnector = (
  opts: { hostname: string; host: string; protocol: string; port: string; servername?: string | null },
  callback: (err: Error | null, socket: Socket | null) => void,
) => unknown;

/** Options of {@link directGet}. */
export interface DirectGetOptions {
  connect: DirectConnector;
  /** Longest silence while waiting for the head or body bytes (ms; 0 = none). */
  idleMs: number;
  signal?: AbortSignal | undefined;
}

/** One response; `body` must be consumed or destroyed (destroying closes the connection). */
export interface DirectResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
}

/** An error with a stable `code` (see the module doc). */
function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
}

/** Size of the shared read buffer of plain-HTTP direct connections (1 MiB: one read per MiB when data waits). */
export const DIRECT_READ_BYTES = 1024 * 1024;

/** Where a socket made with {@link directOnRead} finds its exchange's read handler. */
const READ_HANDLER = Symbol('oras.directRead');

type ReadHandler = (view: Buffer) => void;

/**
 * The `onread` option for plain-HTTP sockets of the direct connector: every
 * read lands in one buffer shared by all such sockets, which is safe because
 * each read is handed to its exchange synchronously and copied wherever it
 * must outlive the call. A socket with no exchange attached is destroyed
 * (a server speaking before the request is not HTTP/1.1).
 */
export const directOnRead = {
  buffer: Buffer.allocUnsafe(DIRECT_READ_BYTES),
  callback(this: Socket, n: number, buf: Buffer): boolean {
    const handler = (this as Socket & { [READ_HANDLER]?: ReadHandler })[READ_HANDLER];
    if (handler === undefined) {
      this.destroy();
      return false;
    }
    handler(buf.subarray(0, n));
    return true;
  },
};

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The request head; refuses header names or values that could split it. */
export function requestHead(url: URL, headers: Record<string, string>): string {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'connection') continue;
    if (!HEADER_NAME.test(name) || /[\0\r\n]/.test(value))
      throw new Http1ParseError(`invalid request header ${JSON.stringify(name.slice(0, 40))}`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}connection: close\r\n\r\n`;
}

/** Opens a connection through `connect`, honouring `signal`. */
async function openSocket(url: URL, o: DirectGetOptions): Promise<Socket> {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return await new Promise<Socket>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      reject(abortError(o.signal as AbortSignal));
    };
    const socket = o.connect({ hostname: url.hostname, host: url.host, protocol: url.protocol, port }, (err, s) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (settled) {
        s?.destroy();
        return;
      }
      settled = true;
      if (err !== null || s === null) reject(err ?? netError('UND_ERR_SOCKET', 'connection failed'));
      else resolve(s);
    }) as Socket | undefined;
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Sends `GET url` with `headers` on a new connection and resolves with the
 * status and headers once the head has arrived (1xx heads are skipped); the
 * body streams with backpressure (the socket pauses while the consumer does)
 * and ends exactly at its framing's end. Rejects on connect/TLS failures, a
 * malformed head (over 64 KiB, folded lines, conflicting lengths), a closed
 * connection or silence longer than `idleMs`.
 */
export async function directGet(
  url: URL,
  headers: Record<string, string>,
  o: DirectGetOptions,
): Promise<DirectResponse> {
  o.signal?.throwIfAborted();
  const head = requestHead(url, headers);
  const socket = await openSocket(url, o);
  return await new Promise<DirectResponse>((resolve, reject) => {
    new DirectExchange(socket, o, resolve, reject).start(head);
  });
}

/** The state of one exchange: the head phase, then the body phase. */
class DirectExchange {
  #pending: Buffer | undefined;
  /** The bytes being handled are a view of the shared read buffer. */
  #borrowed = false;
  #body: DirectBody | undefined;
  #framing: BodyFraming | undefined;
  #remaining = 0;
  #chunked: ChunkedDecoder | undefined;
  #done = false;
  /** The body's synchronous consumer (see {@link DirectBody.sinkTo}). */
  sink: ((chunk: Buffer) => void) | undefined;
  readonly #onAbort = (): void => this.fail(abortError(this.o.signal as AbortSignal));

  constructor(
    private readonly socket: Socket,
    private readonly o: DirectGetOptions,
    private readonly resolve: (r: DirectResponse) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  start(head: string): void {
    const s = this.socket as Socket & { [READ_HANDLER]?: ReadHandler };
    // A socket made with `directOnRead` calls the handler with views of the shared buffer.
    s[READ_HANDLER] = (view) => this.#onData(view, true);
    s.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    s.on('end', () => this.#onEnd());
    s.on('error', (err) => this.fail(err));
    s.on('close', () => this.fail(netError('UND_ERR_SOCKET', 'other side closed')));
    s.on('timeout', () => {
      const what = this.#body === undefined ? 'HEADERS' : 'BODY';
      this.fail(netError(`UND_ERR_${what}_TIMEOUT`, `no ${what.toLowerCase()} data for ${this.o.idleMs} ms`));
    });
    if (this.o.idleMs > 0) s.setTimeout(this.o.idleMs);
    this.o.signal?.addEventListener('abort', this.#onAbort, { once: true });
    s.write(head, 'latin1');
  }

  /** Ends the exchange with `err` (no-op once the body has ended). */
  fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    if (this.#body === undefined) this.reject(err);
    else this.#body.destroy(err);
  }

  /** The body's consumer wants more (or stopped wanting: `on` false). */
  flow(on: boolean): void {
    if (this.#done) return;
    if (on) {
      if (this.o.idleMs > 0) this.socket.setTimeout(this.o.idleMs);
      this.socket.resume();
    } else {
      // A consumer applying backpressure is not silence on the wire.
      this.socket.setTimeout(0);
      this.socket.pause();
    }
  }

  #cleanup(): void {
    this.o.signal?.removeEventListener('abort', this.#onAbort);
    this.socket.setTimeout(0);
    this.socket.destroy();
  }

  /** `borrowed`: `chunk` is a view of the shared read buffer, valid only during this call. */
  #onData(chunk: Buffer, borrowed: boolean): void {
    if (this.#done) return;
    this.#borrowed = borrowed;
    try {
      if (this.#body === undefined) this.#onHeadBytes(chunk);
      else this.#onBodyBytes(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  #onHeadBytes(chunk: Buffer): void {
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new Http1ParseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
        this.#pending = this.#borrowed ? Buffer.from(buf) : buf;
        return;
      }
      if (end > MAX_HEAD_BYTES) throw new Http1ParseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      const head = parseHead(buf.toString('latin1', 0, end));
      buf = buf.subarray(end + 4);
      if (head.status === 101) throw new Http1ParseError('unexpected 101 Switching Protocols');
      if (head.status >= 100 && head.status < 200) continue; // interim response
      this.#pending = undefined;
      this.#startBody(head);
      if (buf.length > 0 && !this.#done) this.#onBodyBytes(buf);
      return;
    }
  }

  #startBody(head: Http1Head): void {
    const framing = bodyFraming('GET', head);
    this.#framing = framing;
    const body = new DirectBody(this);
    this.#body = body;
    if (framing.kind === 'length') this.#remaining = framing.length;
    if (framing.kind === 'chunked') this.#chunked = new ChunkedDecoder((view) => this.#push(view));
    this.resolve({ statusCode: head.status, headers: head.headers, body });
    if (framing.kind === 'none') this.#finish();
  }

  #onBodyBytes(chunk: Buffer): void {
    const framing = this.#framing;
    if (framing === undefined) return;
    if (framing.kind === 'length') {
      const n = Math.min(this.#remaining, chunk.length);
      this.#remaining -= n;
      this.#push(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (this.#remaining === 0) this.#finish();
    } else if (framing.kind === 'chunked') {
      if ((this.#chunked as ChunkedDecoder).feed(chunk) >= 0) this.#finish();
    } else if (framing.kind === 'close') {
      this.#push(chunk);
    }
  }

  #push(view: Buffer): void {
    if (view.length === 0) return;
    if (this.sink !== undefined) {
      this.sink(view);
      return;
    }
    const copy = this.#borrowed ? Buffer.from(view) : view;
    if (!(this.#body as DirectBody).push(copy)) this.flow(false);
  }

  #onEnd(): void {
    if (this.#framing?.kind === 'close') this.#finish();
    else this.fail(netError('UND_ERR_SOCKET', 'other side closed'));
  }

  /** The body ended at its framing's end: close the connection, end the stream. */
  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    (this.#body as DirectBody).push(null);
  }
}

/** The body stream of a {@link directGet} response. */
class DirectBody extends Readable {
  constructor(private readonly exchange: DirectExchange) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _read(): void {
    this.exchange.flow(true);
  }

  /**
   * Hands the body to `fn` (see `SinkableBody` in transport.ts): what the
   * stream buffered first, then every further byte straight from the socket,
   * as views valid only during the call. `undefined` detaches it.
   */
  sinkTo(fn: ((chunk: Buffer) => void) | undefined): void {
    if (fn === undefined) {
      this.exchange.sink = undefined;
      return;
    }
    for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) fn(chunk);
    this.exchange.sink = fn;
    this.resume(); // flowing with nothing buffered: 'end' follows the last byte
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.exchange.fail(err ?? Object.assign(new Error('body destroyed'), { name: 'AbortError' }));
    cb(err);
  }
}
