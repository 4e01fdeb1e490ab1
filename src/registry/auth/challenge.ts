/**
 * Parser for `WWW-Authenticate` header values (RFC 7235): several challenges in
 * one value, quoted strings with backslash escapes, commas inside quotes,
 * token68 credentials.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/token.md#how-to-authenticate
 */

/** One authentication challenge. */
export interface AuthChallenge {
  /** Lower-cased scheme, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Parameters with lower-cased names (e.g. `realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
  /** A token68 value when the challenge carries one instead of parameters. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_RE = /^[A-Za-z0-9\-._~+/]+=*/;
/** Bounds against hostile headers. */
const MAX_HEADER = 16 * 1024;
const MAX_CHALLENGES = 20;
const MAX_PARAMS = 50;

/**
 * Parses a `WWW-Authenticate` value (or several joined by `, `) into challenges.
 * Malformed parts are skipped; never throws. Duplicate parameters keep the
 * first value. Input beyond 16 KiB is ignored.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const s = (Array.isArray(header) ? header.join(', ') : header).slice(0, MAX_HEADER);
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const skipWsAndCommas = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(s[i] as string)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    // s[i] === '"'
    i++;
    let v = '';
    while (i < n) {
      const c = s[i] as string;
      if (c === '\\' && i + 1 < n) {
        v += s[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        return v;
      }
      v += c;
      i++;
    }
    return v; // unterminated: take the rest
  };

  while (i < n && out.length < MAX_CHALLENGES) {
    skipWsAndCommas();
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') {
      // junk: skip to the next comma
      while (i < n && s[i] !== ',') i++;
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();
    // token68?
    const rest = s.slice(i);
    const t68 = TOKEN68_RE.exec(rest);
    if (t68 !== null) {
      const after = rest.slice(t68[0].length).trimStart();
      const looksLikeParam =
        /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*[^=\s,]/.test(rest) || /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*"/.test(rest);
      if (!looksLikeParam && (after === '' || after.startsWith(','))) {
        challenge.token68 = t68[0];
        i += t68[0].length;
        continue;
      }
    }
    // auth-params, separated by commas, until a token not followed by '=' (the next scheme)
    let count = 0;
    while (i < n && count < MAX_PARAMS) {
      skipWsAndCommas();
      const save = i;
      const name = readToken();
      if (name === '') {
        while (i < n && s[i] !== ',') i++;
        continue;
      }
      skipWs();
      if (s[i] !== '=') {
        i = save; // the start of the next challenge
        break;
      }
      i++;
      skipWs();
      let value: string;
      if (s[i] === '"') value = readQuoted();
      else {
        const start = i;
        while (i < n && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
        value = s.slice(start, i);
      }
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
      count++;
      skipWs();
      if (i < n && s[i] !== ',') {
        // garbage after a value: skip to the next comma
        while (i < n && s[i] !== ',') i++;
      }
    }
  }
  return out;
}
