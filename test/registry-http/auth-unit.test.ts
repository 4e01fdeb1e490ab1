import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from '../../src/registry/auth/challenge.js';
import { isLinkLocalHost, validateRealm } from '../../src/registry/auth/realm.js';
import { mergeScopes, parseScope, scopesCover } from '../../src/registry/auth/scope.js';
import { parseTokenResponse } from '../../src/registry/auth/token.js';
import { TokenCache, tokenCacheKey, tokenExpiry } from '../../src/registry/auth/token-cache.js';

describe('parseWwwAuthenticate', () => {
  it('parses a docker bearer challenge', () => {
    const c = parseWwwAuthenticate(
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
    );
    expect(c).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:a/b:pull,push',
        },
      },
    ]);
  });
  it('handles several challenges, commas inside quotes, escapes and unquoted values', () => {
    const c = parseWwwAuthenticate(
      'Basic realm="a, \\"b\\"", charset=UTF-8, Bearer realm="https://t/x",error="insufficient_scope",scope="repository:r:pull,push repository:s:pull"',
    );
    expect(c).toHaveLength(2);
    expect(c[0]).toEqual({ scheme: 'basic', params: { realm: 'a, "b"', charset: 'UTF-8' } });
    expect(c[1]?.scheme).toBe('bearer');
    expect(c[1]?.params).toEqual({
      realm: 'https://t/x',
      error: 'insufficient_scope',
      scope: 'repository:r:pull,push repository:s:pull',
    });
  });
  it('accepts arrays (several headers), odd spacing, lower-cases names, keeps first duplicate', () => {
    const c = parseWwwAuthenticate(['  BEARER   Realm = "r1" , REALM="r2"', 'Negotiate abc123==', 'Basic']);
    expect(c).toEqual([
      { scheme: 'bearer', params: { realm: 'r1' } },
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'basic', params: {} },
    ]);
  });
  it('never throws on junk and is bounded', () => {
    for (const junk of [
      '',
      ',,,',
      '"',
      '=',
      'Bearer realm="unterminated',
      'Bearer ,,, =x, realm',
      '\u0000\u0001',
      'x'.repeat(100_000),
      'a=b,'.repeat(10_000),
    ]) {
      expect(() => parseWwwAuthenticate(junk)).not.toThrow();
    }
    expect(parseWwwAuthenticate('Bearer realm="unterminated')[0]?.params['realm']).toBe('unterminated');
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});

describe('scopes', () => {
  it('merges actions per repository, sorted and de-duplicated', () => {
    expect(mergeScopes(['repository:a:pull', 'repository:a:push'])).toEqual(['repository:a:pull,push']);
    expect(mergeScopes(['repository:b:push', 'repository:a:pull'], 'repository:a:push repository:b:pull')).toEqual([
      'repository:a:pull,push',
      'repository:b:pull,push',
    ]);
    expect(mergeScopes(['repository:a:pull', 'repository:a:*'])).toEqual(['repository:a:*']);
    expect(mergeScopes(['registry:catalog:*', 'weird', 'weird'])).toEqual(['registry:catalog:*', 'weird']);
    expect(mergeScopes([], undefined)).toEqual([]);
  });
  it('parses names containing colons', () => {
    expect(parseScope('repository:host:5000/a:pull,push')).toEqual({
      type: 'repository',
      name: 'host:5000/a',
      actions: ['pull', 'push'],
    });
    expect(parseScope('nope')).toBeUndefined();
  });
  it('scopesCover', () => {
    expect(scopesCover(['repository:a:pull,push'], ['repository:a:push'])).toBe(true);
    expect(scopesCover(['repository:a:pull'], ['repository:a:push'])).toBe(false);
    expect(scopesCover(['repository:a:*'], ['repository:a:delete'])).toBe(true);
  });
});

describe('realm validation', () => {
  it('requires https unless the registry is plain HTTP', () => {
    expect(validateRealm('https://auth.example.com/token', 'r.example.com', false).host).toBe('auth.example.com');
    expect(() => validateRealm('http://auth.example.com/token', 'r.example.com', false)).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_INSECURE' }),
    );
    expect(validateRealm('http://127.0.0.1:1/token', '127.0.0.1:2', true).protocol).toBe('http:');
    expect(() => validateRealm('ftp://x/y', 'r', true)).toThrow(expect.objectContaining({ code: 'ERR_ORAS_INSECURE' }));
    expect(() => validateRealm('not a url', 'r', true)).toThrow(expect.objectContaining({ code: 'ERR_ORAS_HTTP' }));
    expect(() => validateRealm('https://u:p@auth/x', 'r', false)).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_INSECURE' }),
    );
  });
  it('rejects link-local realms', () => {
    for (const r of [
      'https://169.254.169.254/latest',
      'https://[fe80::1]/t',
      'https://[febf::1]/t',
      'https://[::ffff:169.254.1.1]/t',
      'http://2852039166/t',
    ]) {
      expect(() => validateRealm(r, 'r', true), r).toThrow(expect.objectContaining({ code: 'ERR_ORAS_INSECURE' }));
    }
    expect(isLinkLocalHost('fec0::1')).toBe(false);
    expect(isLinkLocalHost('169.255.0.1')).toBe(false);
    expect(isLinkLocalHost('[::1]')).toBe(false);
    expect(isLinkLocalHost('example.com')).toBe(false);
  });
});

describe('tokens', () => {
  it('parses token responses', () => {
    expect(parseTokenResponse(Buffer.from('{"token":"a","access_token":"b","expires_in":300}'), 'r')).toEqual({
      token: 'a',
      expiresIn: 300,
    });
    expect(parseTokenResponse(Buffer.from('{"access_token":"b"}'), 'r')).toEqual({ token: 'b' });
    expect(parseTokenResponse(Buffer.from('{"token":"a","expires_in":-5}'), 'r')).toEqual({ token: 'a' });
    for (const bad of ['', 'nope', '[]', '{"token":""}', '{"token":5}', '{"token":"a\\nb"}']) {
      expect(() => parseTokenResponse(Buffer.from(bad), 'r'), bad).toThrow(
        expect.objectContaining({ code: 'ERR_ORAS_HTTP' }),
      );
    }
  });
  it('never quotes the body in errors', () => {
    try {
      parseTokenResponse(Buffer.from('{"secret-canary": true'), 'r');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('secret-canary');
    }
  });
  it('expiry defaults to 60 s minus skew, cache expires', () => {
    expect(tokenExpiry(undefined, 0)).toBe(54_000);
    expect(tokenExpiry(300, 0)).toBe(270_000);
    expect(tokenExpiry(1, 0)).toBe(0);
    const c = new TokenCache(2);
    const k = tokenCacheKey('r', 'realm', 'svc', ['repository:a:pull']);
    expect(tokenCacheKey('r', 'realm', 'svc', ['b', 'a'])).toBe(tokenCacheKey('r', 'realm', 'svc', ['a', 'b']));
    c.set(k, { token: 't', expiresAt: 100, scopes: [] });
    expect(c.get(k, 99)?.token).toBe('t');
    expect(c.get(k, 100)).toBeUndefined();
    c.set('1', { token: '1', expiresAt: 1e15, scopes: [] });
    c.set('2', { token: '2', expiresAt: 1e15, scopes: [] });
    c.set('3', { token: '3', expiresAt: 1e15, scopes: [] });
    expect(c.get('1')).toBeUndefined();
    expect(c.get('3')?.token).toBe('3');
  });
});
