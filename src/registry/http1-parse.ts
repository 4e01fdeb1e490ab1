/**
 * The pure parts of the client's own HTTP/1.1 reader ({@link directGet} in
 * `direct-get.ts`): the response head and the body framing (RFC 9112 §4–7).
 * Strict where leniency could let a response smuggle or stretch a body:
 * obsolete line folding, a malformed or conflicting Content-Length, a
 * transfer coding other than `chunked`, and oversized heads or chunk lines
 * are refused with {@link Http1ParseError}.
 */

/** Refusal of a malformed response; `code` is stable. */
export class Http1ParseError extends Error {
  /** Always `HPE_INVALID` (matched by the network-error mapping). */
  readonly code = 'HPE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'Http1ParseError';
  }
}

/** A parsed response head. */
export interface Http1Head {
  status: number;
  /** Lower-cased names; repeated fields joined with `, `. */
  headers: Record<string, string>;
}

/** How the body of a response is delimited. */
export type BodyFraming =
  { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** Default cap on a response head (status line and all fields), in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: [^\r\n]*)?$/;

/**
 * Parses one response head (`text` without the final blank line, decoded as
 * latin1). Throws {@link Http1ParseError} on any malformed line.
 */
export function parseHead(text: string): Http1Head {
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0] ?? '');
  if (!m) throw new Http1ParseError(`malformed status line ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith(' ') || line.startsWith('\t')) throw new Http1ParseError('obsolete line folding in a header');
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new Http1ParseError(`malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new Http1ParseError(`invalid character in header ${name}`);
    const key = name.toLowerCase();
    const prev = headers[key];
    headers[key] = prev === undefined ? value : `${prev}, ${value}`;
  }
  return { status: Number(m[1]), headers };
}

/**
 * The framing of a response to `method` (RFC 9112 §6.3): none for HEAD, 1xx,
 * 204 and 304; `chunked` when Transfer-Encoding ends with it (any other coding
 * is refused, as is a Content-Length next to it); else Content-Length (repeated
 * values must agree); else the body runs until the connection closes.
 */
export function bodyFraming(method: string, head: Http1Head): BodyFraming {
  const { status, headers } = head;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (te.trim().toLowerCase() !== 'chunked')
      throw new Http1ParseError(`unsupported Transfer-Encoding ${JSON.stringify(te.slice(0, 40))}`);
    if (headers['content-length'] !== undefined) throw new Http1ParseError('both Transfer-Encoding and Content-Length');
    return { kind: 'chunked' };
  }
  const cl = headers['content-length'];
  if (cl === undefined) return { kind: 'close' };
  const values = new Set(cl.split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) {
    throw new Http1ParseError(`malformed Content-Length ${JSON.stringify(cl.slice(0, 40))}`);
  }
  const length = Number(only);
  return length === 0 ? { kind: 'none' } : { kind: 'length', length };
}

/** Cap on a chunk-size line or a trailer line. */
const MAX_CHUNK_LINE = 4096;
/** Cap on the trailer section. */
const MAX_TRAILER_BYTES = 16 * 1024;

/**
 * Incremental decoder of a `chunked` body: {@link ChunkedDecoder.feed} takes
 * raw bytes and hands body bytes to `onBody` as views of the input (no copy);
 * it returns the offset just past the message once the last chunk and the
 * trailers are read (extra bytes after it are the caller's), or -1 while more
 * is needed.
 */
export class ChunkedDecoder {
  #state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  #line = '';
  #remaining = 0;
  #trailerBytes = 0;

  constructor(private readonly onBody: (view: Buffer) => void) {}

  /** Feeds `buf`; see the class doc for the result. */
  feed(buf: Buffer): number {
    let i = 0;
    while (i < buf.length) {
      if (this.#state === 'data') {
        const n = Math.min(this.#remaining, buf.length - i);
        this.onBody(buf.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = 'data-crlf';
        continue;
      }
      const nl = buf.indexOf(10, i);
      const end = nl < 0 ? buf.length : nl;
      this.#line += buf.toString('latin1', i, end);
      if (this.#line.length > MAX_CHUNK_LINE) throw new Http1ParseError('chunk line too long');
      if (nl < 0) return -1;
      i = nl + 1;
      if (!this.#line.endsWith('\r')) throw new Http1ParseError('bare LF in chunked framing');
      const line = this.#line.slice(0, -1);
      this.#line = '';
      if (this.#lineDone(line)) return i;
    }
    return -1;
  }

  /** Handles one complete line; true when the message is complete. */
  #lineDone(line: string): boolean {
    if (this.#state === 'data-crlf') {
      if (line !== '') throw new Http1ParseError('chunk data longer than its size');
      this.#state = 'size';
      return false;
    }
    if (this.#state === 'trailer') {
      if (line === '') return true;
      this.#trailerBytes += line.length + 2;
      if (this.#trailerBytes > MAX_TRAILER_BYTES) throw new Http1ParseError('trailer section too long');
      return false;
    }
    const m = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
    if (!m?.[1]) throw new Http1ParseError(`malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
    const size = parseInt(m[1], 16);
    if (size === 0) this.#state = 'trailer';
    else {
      this.#remaining = size;
      this.#state = 'data';
    }
    return false;
  }
}
