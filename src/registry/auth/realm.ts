/** Validation of a Bearer challenge's `realm` (the token endpoint URL). */
import { OrasError } from '../../errors.js';
import { redactUrl } from '../redact.js';
import { isMetadataHost } from './metadata-hosts.js';

/**
 * True for link-local and cloud metadata hosts in every form (see
 * {@link isMetadataHost}: IPv4 169.254.0.0/16 in decimal/hex/octal/short
 * forms, fe80::/10, IPv4 link-local mapped/compatible in IPv6,
 * fd00:ec2::254, `metadata.google.internal` and friends). `host` is a URL
 * hostname (IPv6 in brackets or not). Names that merely resolve to such an
 * address are caught at connect time (`vettedLookup`).
 */
export function isLinkLocalHost(host: string): boolean {
  return isMetadataHost(host);
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
    throw new OrasError('ERR_ORAS_HTTP', `registry ${registry} sent an invalid token realm`, {
      cause: err,
      hint: 'the registry auth configuration is broken',
    });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && registryPlainHttp)) {
    throw new OrasError(
      'ERR_ORAS_INSECURE',
      `registry ${registry} sent a token realm ${redactUrl(url)} that is not https`,
      {
        hint: 'credentials are only sent to an https token endpoint unless the registry itself is used over plain HTTP (--plain-http)',
      },
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new OrasError('ERR_ORAS_INSECURE', `registry ${registry} sent a token realm with embedded credentials`, {
      hint: 'the registry auth configuration is suspicious',
    });
  }
  if (isLinkLocalHost(url.hostname)) {
    throw new OrasError(
      'ERR_ORAS_INSECURE',
      `registry ${registry} sent a token realm on a link-local address (${url.hostname})`,
      {
        hint: 'refusing to contact link-local addresses (e.g. cloud metadata services) for tokens',
      },
    );
  }
  return url;
}
