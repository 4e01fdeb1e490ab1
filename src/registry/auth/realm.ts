/** Validation of a Bearer challenge's `realm` (the token endpoint URL). */
import { OrasError } from '../../errors.js';
import { redactUrl } from '../redact.js';

/**
 * True for link-local addresses: IPv4 169.254.0.0/16, IPv6 fe80::/10, and IPv4
 * link-local mapped into IPv6 (`::ffff:169.254.x.x`). `host` is a URL hostname
 * (IPv6 in brackets or not). Names are not resolved.
 */
export function isLinkLocalHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (/^169\.254\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  if (!h.includes(':')) return false;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h) ?? /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (mapped !== null) {
    const hi = parseInt(mapped[1] as string, 16);
    return hi === 0xa9fe; // 169.254
  }
  const mappedDotted = /^(?:[0:]*):ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(h);
  if (mappedDotted !== null) return (mappedDotted[1] as string).startsWith('169.254.');
  const first = h.split(':')[0] ?? '';
  if (first === '') return false;
  const v = parseInt(first, 16);
  return !Number.isNaN(v) && first.length <= 4 && (v & 0xffc0) === 0xfe80;
}

/**
 * Parses and vets a realm: it must be an absolute `https:` URL, or `http:` only
 * when the registry itself is contacted over plain HTTP (`registryPlainHttp`, the
 * user's choice); no userinfo; not on a link-local address. Throws
 * `ERR_ORAS_INSECURE` (or `ERR_ORAS_HTTP` for an unparsable realm).
 */
export function validateRealm(realm: string, registry: string, registryPlainHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    throw new OrasError('ERR_ORAS_HTTP', `registry ${registry} sent an invalid token realm`, { cause: err, hint: 'the registry auth configuration is broken' });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && registryPlainHttp)) {
    throw new OrasError('ERR_ORAS_INSECURE', `registry ${registry} sent a token realm ${redactUrl(url)} that is not https`, {
      hint: 'credentials are only sent to an https token endpoint unless the registry itself is used over plain HTTP (--plain-http)',
    });
  }
  if (url.username !== '' || url.password !== '') {
    throw new OrasError('ERR_ORAS_INSECURE', `registry ${registry} sent a token realm with embedded credentials`, { hint: 'the registry auth configuration is suspicious' });
  }
  if (isLinkLocalHost(url.hostname)) {
    throw new OrasError('ERR_ORAS_INSECURE', `registry ${registry} sent a token realm on a link-local address (${url.hostname})`, {
      hint: 'refusing to contact link-local addresses (e.g. cloud metadata services) for tokens',
    });
  }
  return url;
}
