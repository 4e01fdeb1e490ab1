/**
 * Redaction of secrets in URLs and headers, for debug lines and error messages.
 * Everything that may end up in a log or an error message goes through here.
 */

/** The replacement text for a redacted value. */
export const REDACTED = 'REDACTED';

/** Query parameters (lower-cased) whose values are secrets (pre-signed URLs, tokens). */
const SECRET_QUERY_PARAMS = new Set([
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
  'signature',
  'sig',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'password',
  'secret',
  'client_secret',
  'key',
  'api_key',
  'apikey',
  'key-pair-id',
  'policy',
]);

/** Header names (lower-cased) whose values are always secrets. */
const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-registry-auth',
  'x-registry-config',
]);

const SECRET_PARAM_RE =
  /(token|secret|signature|password|passwd|credential|sig$|^sig|auth|apikey|api-key|api_key|session)/i;
const SECRET_HEADER_RE = /(token|secret|signature|password|credential|auth|cookie|api-key|apikey|session)/i;

/** True when a query parameter name holds a secret value. */
export function isSecretQueryParam(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_QUERY_PARAMS.has(n) || SECRET_PARAM_RE.test(n);
}

/** True when a header name holds a secret value. */
export function isSecretHeader(name: string): boolean {
  const n = name.toLowerCase();
  if (n === 'www-authenticate' || n === 'docker-distribution-api-version') return false;
  return SECRET_HEADERS.has(n) || SECRET_HEADER_RE.test(n);
}

/**
 * Returns `url` as text with userinfo removed (replaced by `REDACTED@`) and the
 * values of secret query parameters (X-Amz-Signature, Signature, sig, token,
 * access_token, X-Goog-Signature, ...) replaced by `REDACTED`. Never throws: an
 * unparsable URL is returned as `REDACTED-URL`.
 */
export function redactUrl(url: URL | string): string {
  let u: URL;
  try {
    u = new URL(typeof url === 'string' ? url : url.href);
  } catch {
    return 'REDACTED-URL';
  }
  if (u.username !== '' || u.password !== '') {
    u.username = REDACTED;
    u.password = '';
  }
  if (u.search !== '') {
    const parts = u.search
      .slice(1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const rawName = eq >= 0 ? pair.slice(0, eq) : pair;
        let name = rawName;
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' '));
        } catch {
          // keep raw
        }
        return isSecretQueryParam(name) && eq >= 0 ? `${rawName}=${REDACTED}` : pair;
      });
    u.search = `?${parts.join('&')}`;
  }
  if (u.hash !== '') u.hash = '';
  return u.href;
}

/**
 * Returns a copy of `headers` (names lower-cased, arrays joined with `, `) where
 * secret headers (authorization, cookie, set-cookie, proxy-authorization,
 * x-registry-auth, any name mentioning token/secret/auth/...) have value `REDACTED`.
 * For `authorization`, the scheme is kept (`Bearer REDACTED`). `location` and
 * `link` values go through {@link redactUrl}-style query redaction.
 */
export function redactHeaders(headers: Record<string, string | string[] | number | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    const value = Array.isArray(v) ? v.join(', ') : String(v);
    if (name === 'authorization' || name === 'proxy-authorization') {
      const scheme = /^([A-Za-z]+)\s/.exec(value)?.[1];
      out[name] = scheme !== undefined ? `${scheme} ${REDACTED}` : REDACTED;
    } else if (isSecretHeader(name)) {
      out[name] = REDACTED;
    } else if (name === 'location' || name === 'content-location') {
      out[name] = redactLocation(value);
    } else if (name === 'link') {
      out[name] = value.replace(/<([^>]*)>/g, (_m, u: string) => `<${redactLocation(u)}>`);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** Redacts a possibly relative URL (as found in Location / Link headers). */
function redactLocation(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return redactUrl(value);
  const base = 'http://relative.invalid';
  const r = redactUrl(new URL(value, base).href);
  return r.startsWith(base) ? r.slice(base.length) : r;
}

/** Secrets seen by any client of this process, each in every encoding of {@link secretEncodings}; bounded. */
const knownSecrets = new Set<string>();
const MAX_KNOWN_SECRETS = 512;
/** {@link knownSecrets}, longest first (so a longer encoding is replaced before a shorter one inside it); rebuilt lazily. */
let ordered: string[] | undefined;

/**
 * Every form in which this client ever sends `secret` (or that a server is
 * likely to echo back): raw; URL-encoded (`encodeURIComponent`); form-encoded
 * (`+` for space, and `URLSearchParams` escaping); base64, base64 without
 * padding and base64url of the UTF-8 bytes; hex (lower and upper case);
 * JSON-escaped. Forms shorter than 4 characters are left out.
 */
export function secretEncodings(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const b64 = bytes.toString('base64');
  const forms = [
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    new URLSearchParams({ v: secret }).toString().slice(2),
    b64,
    b64.replace(/=+$/, ''),
    bytes.toString('base64url'),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    JSON.stringify(secret).slice(1, -1),
  ];
  return [...new Set(forms)].filter((f) => f.length >= 4);
}

/**
 * Remembers secrets (process-wide, at most 512 forms, strings shorter than 4
 * ignored) so that {@link scrubServerText} can remove them from anything that
 * is printed: text a server sends back (an error echoing the Authorization
 * header), debug lines (a header that echoes the password), CLI errors and
 * hints. Each secret is remembered in every form of {@link secretEncodings}.
 * Called by the authorizer for every credential (and base64 `user:pass`) and
 * token it uses.
 */
export function rememberSecrets(secrets: Iterable<string | undefined>): void {
  for (const s of secrets) {
    if (s === undefined || s.length < 4) continue;
    for (const form of secretEncodings(s)) {
      if (knownSecrets.has(form)) continue;
      if (knownSecrets.size >= MAX_KNOWN_SECRETS) knownSecrets.delete(knownSecrets.values().next().value as string);
      knownSecrets.add(form);
      ordered = undefined;
    }
  }
}

/**
 * Scrubs text before it is shown (server text in errors, debug lines, CLI output): every remembered secret
 * ({@link rememberSecrets}), `Basic …` / `Bearer …` credentials, and JWT-looking tokens
 * are replaced by `REDACTED`.
 */
export function scrubServerText(text: string): string {
  ordered ??= [...knownSecrets].sort((a, b) => b.length - a.length);
  return scrubSecrets(text, ordered)
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{4,}/gi, `$1 ${REDACTED}`)
    .replace(/\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}/g, REDACTED);
}

/**
 * Removes every occurrence of each of `secrets` (ignoring empty/short ones) from
 * `text`. A last line of defence for messages built from server-provided text.
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s === undefined || s.length < 4 || !out.includes(s)) continue;
    out = out.split(s).join(REDACTED);
  }
  return out;
}
