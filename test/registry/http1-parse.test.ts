/** The pure parts of the client's own HTTP/1.1 reader: response heads, body framing, chunked decoding. */
import { describe, expect, it } from 'vitest';
import { bodyFraming, ChunkedDecoder, parseHead } from '../../src/registry/http1-parse.js';

function decode(pieces: string[]): { body: string; end: number; piece: number } {
  let body = '';
  const d = new ChunkedDecoder((view) => (body += view.toString('latin1')));
  for (const [i, p] of pieces.entries()) {
    const end = d.feed(Buffer.from(p, 'latin1'));
    if (end >= 0) return { body, end, piece: i };
  }
  return { body, end: -1, piece: -1 };
}

describe('parseHead', () => {
  it('reads the status and lower-cased headers, joining repeated fields', () => {
    const head = parseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\nEmpty:');
    expect(head).toEqual({ status: 200, headers: { 'content-length': '5', 'x-a': '1, 2', empty: '' } });
    expect(parseHead('HTTP/1.0 404').status).toBe(404);
  });

  it.each([
    ['a malformed status line', 'HTTP/2 200 OK'],
    ['a status out of range', 'HTTP/1.1 099 Weird'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued'],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nBad Name: 1'],
    ['a line without a colon', 'HTTP/1.1 200 OK\r\nnocolon'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\0b'],
  ])('refuses %s with HPE_INVALID', (_what, text) => {
    expect(() => parseHead(text)).toThrow(expect.objectContaining({ code: 'HPE_INVALID' }) as Error);
  });
});

describe('bodyFraming', () => {
  const head = (status: number, headers: Record<string, string>): Parameters<typeof bodyFraming>[1] => ({
    status,
    headers,
  });

  it('has no body for HEAD, 204, 304 and a zero length', () => {
    expect(bodyFraming('HEAD', head(200, { 'content-length': '9' }))).toEqual({ kind: 'none' });
    expect(bodyFraming('GET', head(204, {}))).toEqual({ kind: 'none' });
    expect(bodyFraming('GET', head(304, {}))).toEqual({ kind: 'none' });
    expect(bodyFraming('GET', head(200, { 'content-length': '0' }))).toEqual({ kind: 'none' });
  });

  it('uses Content-Length (repeated equal values allowed), chunked, or the connection close', () => {
    expect(bodyFraming('GET', head(200, { 'content-length': '12' }))).toEqual({ kind: 'length', length: 12 });
    expect(bodyFraming('GET', head(200, { 'content-length': '12, 12' }))).toEqual({ kind: 'length', length: 12 });
    expect(bodyFraming('GET', head(200, { 'transfer-encoding': 'chunked' }))).toEqual({ kind: 'chunked' });
    expect(bodyFraming('GET', head(200, {}))).toEqual({ kind: 'close' });
  });

  it.each([
    ['conflicting Content-Length values', { 'content-length': '12, 13' }],
    ['a signed Content-Length', { 'content-length': '+12' }],
    ['a Content-Length of 16 digits', { 'content-length': '1234567890123456' }],
    ['Transfer-Encoding next to Content-Length', { 'transfer-encoding': 'chunked', 'content-length': '3' }],
    ['a coding other than chunked', { 'transfer-encoding': 'gzip, chunked' }],
  ])('refuses %s', (_what, headers) => {
    expect(() => bodyFraming('GET', head(200, headers))).toThrow(
      expect.objectContaining({ code: 'HPE_INVALID' }) as Error,
    );
  });
});

describe('ChunkedDecoder', () => {
  it('decodes chunks split anywhere, with extensions and trailers, and reports where the message ends', () => {
    const wire = '5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT';
    for (let cut = 1; cut < wire.length; cut++) {
      const r = decode([wire.slice(0, cut), wire.slice(cut)]);
      expect(r.body).toBe('hello, world');
      const consumed = r.piece === 0 ? r.end : cut + r.end;
      expect(wire.slice(consumed)).toBe('NEXT');
    }
  });

  it('needs more input until the final blank line', () => {
    expect(decode(['3\r\nabc\r\n0\r\n']).end).toBe(-1);
  });

  it.each([
    ['a bare LF', '3\nabc\r\n0\r\n\r\n'],
    ['a malformed size', 'zz\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['a size line over 4 KiB', `${'0'.repeat(5000)}1\r\n`],
    ['trailers over 16 KiB', `0\r\n${'X-A: b\r\n'.repeat(3000)}\r\n`],
  ])('refuses %s', (_what, wire) => {
    expect(() => decode([wire])).toThrow(expect.objectContaining({ code: 'HPE_INVALID' }) as Error);
  });
});
