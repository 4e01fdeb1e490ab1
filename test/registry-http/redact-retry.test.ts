import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { errorFromResponse, parseRegistryErrors } from '../../src/registry/http-errors.js';
import { redactHeaders, redactUrl } from '../../src/registry/redact.js';
import {
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  retryDelay,
  sleep,
} from '../../src/registry/retry.js';

describe('redaction', () => {
  it('redacts userinfo and secret query parameters', () => {
    const u = redactUrl(
      'https://user:pw@s3.example.com/blob?X-Amz-Algorithm=AWS4&X-Amz-Signature=abcdef&X-Amz-Credential=AKIA&ok=1',
    );
    expect(u).not.toContain('pw');
    expect(u).not.toContain('abcdef');
    expect(u).not.toContain('AKIA');
    expect(u).toContain('X-Amz-Algorithm=AWS4');
    expect(u).toContain('ok=1');
    expect(u).toContain('X-Amz-Signature=REDACTED');
    for (const p of ['Signature', 'sig', 'token', 'access_token', 'X-Goog-Signature', 'refresh_token', 'Key-Pair-Id']) {
      expect(redactUrl(`https://cdn.example.com/x?${p}=canary123&n=2`), p).not.toContain('canary123');
    }
    expect(redactUrl('https://cdn.example.com/x?n=100&last=abc')).toBe('https://cdn.example.com/x?n=100&last=abc');
    expect(redactUrl('::bad::')).toBe('REDACTED-URL');
  });
  it('redacts secret headers and keeps harmless ones', () => {
    const h = redactHeaders({
      Authorization: 'Bearer canary1',
      cookie: 'a=canary2',
      'Set-Cookie': ['x=canary3', 'y=canary4'],
      'proxy-authorization': 'Basic canary5',
      'x-registry-auth': 'canary6',
      'x-auth-token': 'canary7',
      'x-api-key': 'canary8',
      'www-authenticate': 'Bearer realm="https://t"',
      'content-type': 'application/json',
      location: 'https://s3/x?X-Amz-Signature=canary9',
      link: '</v2/x/tags/list?n=1&token=canary10>; rel="next"',
    });
    const s = JSON.stringify(h);
    for (let i = 1; i <= 10; i++) expect(s).not.toContain(`canary${i}`);
    expect(h['authorization']).toBe('Bearer REDACTED');
    expect(h['www-authenticate']).toBe('Bearer realm="https://t"');
    expect(h['content-type']).toBe('application/json');
    expect(h['link']).toBe('</v2/x/tags/list?n=1&token=REDACTED>; rel="next"');
  });
});

describe('retry', () => {
  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('Mon, 23 Nov 2026 10:00:00 GMT');
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 09:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, '', '-1', '1.5', 'soon', '12abc'])
      expect(parseRetryAfter(bad), String(bad)).toBeUndefined();
  });
  it('computes capped full-jitter backoff and caps Retry-After', () => {
    const p = resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect(p.maxAttempts).toBe(5);
    expect(retryDelay(1, p, undefined, () => 0.999)).toBe(99);
    expect(retryDelay(3, p, undefined, () => 0.999)).toBe(399);
    expect(retryDelay(10, p, undefined, () => 0.999)).toBe(999);
    expect(retryDelay(1, p, undefined, () => 0)).toBe(0);
    expect(retryDelay(1, p, 5000)).toBe(1000);
    expect(retryDelay(1, p, 200)).toBe(200);
    expect(resolveRetryPolicy({ maxAttempts: 0 }).maxAttempts).toBe(1);
  });
  it('classifies statuses and network errors', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [200, 400, 401, 403, 404, 413, 501]) expect(isRetryableStatus(s)).toBe(false);
    expect(isRetryableNetworkError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), false)).toBe(true);
    expect(isRetryableNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }), false)).toBe(true);
    expect(isRetryableNetworkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true)).toBe(true);
    expect(isRetryableNetworkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), false)).toBe(false);
    expect(
      isRetryableNetworkError(new Error('x', { cause: Object.assign(new Error('y'), { code: 'ECONNRESET' }) }), true),
    ).toBe(true);
    expect(isRetryableNetworkError(new Error('plain'), true)).toBe(false);
  });
  it('sleep honours abort', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
  });
});

describe('errorFromResponse', () => {
  const res = (status: number, body: string) => ({
    status,
    headers: {},
    body: Readable.from([Buffer.from(body)]),
    url: new URL('https://r.example.com/v2/a/manifests/x?token=canary'),
  });
  it('maps statuses and parses registry errors', async () => {
    const e401 = await errorFromResponse(
      res(401, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'),
      { method: 'GET' },
    );
    expect(e401).toMatchObject({
      code: 'ERR_ORAS_UNAUTHORIZED',
      status: 401,
      registryErrors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }],
    });
    expect(e401.hint).toContain('oras login r.example.com');
    expect(e401.message).not.toContain('canary');
    const e403 = await errorFromResponse(
      res(403, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'),
      { authenticated: true },
    );
    expect(e403.code).toBe('ERR_ORAS_DENIED');
    expect(e403.hint).toMatch(/push access/);
    expect((await errorFromResponse(res(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'))).code).toBe(
      'ERR_ORAS_NOT_FOUND',
    );
    expect((await errorFromResponse(res(413, ''))).code).toBe('ERR_ORAS_BODY_TOO_LARGE');
    expect((await errorFromResponse(res(500, '<html>oops</html>'))).code).toBe('ERR_ORAS_HTTP');
  });
  it('caps the body it reads', async () => {
    const big = `{"errors":[{"code":"X","message":"${'a'.repeat(200_000)}"}]}`;
    const e = await errorFromResponse(res(400, big), { maxBodyBytes: 1024 });
    expect(e.registryErrors).toEqual([]);
    expect(parseRegistryErrors('{"errors":[{"code":"A"},{"nocode":1},"x",null]}')).toEqual([{ code: 'A' }]);
  });
});
