/**
 * Which hops a request may take: redirect targets are vetted here (scheme,
 * downgrade, link-local, userinfo). Credentials and custom headers are only
 * attached on the registry origin (see the client).
 */
import { OrasError } from '../../errors.js';
import { redactUrl } from '../redact.js';
import { isLinkLocalHost } from './realm.js';

/**
 * Resolves a redirect `location` against `current` and vets it: http(s) only;
 * no https→http downgrade unless `allowDowngrade` (the client's `insecure`);
 * no link-local target; no userinfo. Throws `ERR_ORAS_HTTP` for an unparsable
 * Location and `ERR_ORAS_INSECURE` for a refused target.
 */
export function vetRedirect(current: URL, location: string, status: number, allowDowngrade: boolean): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch (err) {
    throw new OrasError('ERR_ORAS_HTTP', `${redactUrl(current)}: invalid redirect location`, {
      status,
      cause: err,
      hint: 'the registry sent a malformed Location header',
    });
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw new OrasError('ERR_ORAS_INSECURE', `redirect to unsupported scheme ${next.protocol}`, {
      status,
      hint: 'only http(s) redirects are followed',
    });
  }
  if (current.protocol === 'https:' && next.protocol === 'http:' && !allowDowngrade) {
    throw new OrasError('ERR_ORAS_INSECURE', `refusing redirect from HTTPS to plain HTTP (${redactUrl(next)})`, {
      status,
      hint: 'a registry must not downgrade to plain HTTP; use --insecure to allow it',
    });
  }
  if (isLinkLocalHost(next.hostname)) {
    throw new OrasError('ERR_ORAS_INSECURE', `refusing redirect to a link-local address (${redactUrl(next)})`, {
      status,
      hint: 'link-local addresses (e.g. cloud metadata services) are never contacted',
    });
  }
  if (next.username !== '' || next.password !== '') {
    throw new OrasError('ERR_ORAS_INSECURE', `refusing redirect to a URL with credentials (${redactUrl(next)})`, {
      status,
      hint: 'the registry sent a suspicious redirect',
    });
  }
  return next;
}
