/**
 * Fetching a bearer token from a token endpoint (the challenge's realm): the
 * docker GET flow (Basic-authenticated or anonymous) and the OAuth2 POST flow
 * (refresh token, or password on request).
 */
import { OrasError } from '../../errors.js';
import type { Credential } from '../credentials/types.js';
import { errorFromNetwork } from '../http-errors.js';
import { redactUrl } from '../redact.js';
import type { HttpMethod, RegistryResponse } from '../transport.js';

/** The client id sent in OAuth2 requests. */
export const OAUTH2_CLIENT_ID = 'oras-ts';

/** Sends one request without auth, redirects or retries. */
export type RawSend = (
  method: HttpMethod,
  url: URL,
  headers: Record<string, string>,
  body: Buffer | undefined,
  signal: AbortSignal | undefined,
) => Promise<RegistryResponse>;

/** What a token endpoint returned. */
export interface TokenResult {
  token: string;
  /** `expires_in` in seconds, when given and valid. */
  expiresIn?: number;
}

/** Parameters of a token request. */
export interface TokenRequest {
  realm: URL;
  service: string | undefined;
  /** Merged scopes. */
  scopes: string[];
  credential: Credential | undefined;
  /** The registry host, for messages. */
  registry: string;
  /** Cap on the response body (bytes). */
  maxBodyBytes: number;
  /** Try OAuth2 `grant_type=password` for username/password credentials (fallback GET on 404/405). */
  oauth2Password: boolean;
  signal?: AbortSignal;
}

function basicHeader(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`, 'utf8').toString('base64')}`;
}

/**
 * Parses a token response body: JSON with a non-empty string `token` or
 * `access_token` (`token` wins), optional positive `expires_in`. Throws
 * `ERR_ORAS_HTTP` otherwise; the body never appears in the message.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/token.md#token-response-fields
 */
export function parseTokenResponse(body: Buffer, registry: string): TokenResult {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new OrasError('ERR_ORAS_HTTP', `the token endpoint of ${registry} returned a response that is not JSON`, {
      hint: 'the registry auth server is misbehaving',
    });
  }
  if (json === null || typeof json !== 'object') {
    throw new OrasError('ERR_ORAS_HTTP', `the token endpoint of ${registry} returned an invalid response`, {
      hint: 'the registry auth server is misbehaving',
    });
  }
  const o = json as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token =
    typeof o.token === 'string' && o.token !== ''
      ? o.token
      : typeof o.access_token === 'string' && o.access_token !== ''
        ? o.access_token
        : undefined;
  if (token === undefined || /[\r\n]/.test(token)) {
    throw new OrasError('ERR_ORAS_HTTP', `the token endpoint of ${registry} returned no usable token`, {
      hint: 'the registry auth server is misbehaving',
    });
  }
  const exp =
    typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) && o.expires_in > 0 ? o.expires_in : undefined;
  return { token, ...(exp !== undefined ? { expiresIn: exp } : {}) };
}

async function readToken(res: RegistryResponse, req: TokenRequest): Promise<TokenResult> {
  // Not readCapped: a body that stalls (idle timeout) or breaks must surface as
  // ERR_ORAS_TIMEOUT / ERR_ORAS_NETWORK, not as "not JSON".
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += b.length;
      if (size > req.maxBodyBytes) {
        throw new OrasError(
          'ERR_ORAS_BODY_TOO_LARGE',
          `the token endpoint of ${req.registry} returned more than ${req.maxBodyBytes} bytes`,
          { hint: 'the registry auth server is misbehaving' },
        );
      }
      chunks.push(b);
    }
  } catch (err) {
    if (!res.body.destroyed) res.body.destroy();
    if (err instanceof OrasError) throw err;
    throw errorFromNetwork(err, 'GET', withoutQuery(req.realm));
  }
  return parseTokenResponse(Buffer.concat(chunks, size), req.registry);
}

function failure(res: RegistryResponse, req: TokenRequest, flow: string): OrasError {
  res.body.destroy();
  const authed = req.credential !== undefined;
  if (res.status === 401 || res.status === 403) {
    return new OrasError(
      'ERR_ORAS_UNAUTHORIZED',
      `the token endpoint ${redactUrl(withoutQuery(req.realm))} of ${req.registry} rejected the ${authed ? 'credentials' : 'anonymous request'} (${flow}, HTTP ${res.status})`,
      {
        status: 401,
        hint: authed
          ? `check the credentials or run \`oras login ${req.registry}\``
          : `the registry requires authentication; run \`oras login ${req.registry}\``,
      },
    );
  }
  return new OrasError(
    'ERR_ORAS_HTTP',
    `the token endpoint ${redactUrl(withoutQuery(req.realm))} of ${req.registry} answered HTTP ${res.status} (${flow})`,
    {
      status: res.status,
      hint:
        res.status >= 500
          ? 'the registry auth server had an error; retry later'
          : 'the registry auth server refused the token request',
    },
  );
}

function withoutQuery(u: URL): URL {
  const c = new URL(u.href);
  c.search = '';
  return c;
}

async function getFlow(send: RawSend, req: TokenRequest): Promise<TokenResult> {
  const url = new URL(req.realm.href);
  if (req.service !== undefined) url.searchParams.set('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = { accept: 'application/json' };
  const c = req.credential;
  if (c !== undefined && (c.username !== undefined || c.password !== undefined))
    headers['authorization'] = basicHeader(c);
  const res = await send('GET', url, headers, undefined, req.signal);
  if (res.status !== 200) throw failure(res, req, 'GET');
  return readToken(res, req);
}

async function postFlow(send: RawSend, req: TokenRequest, form: URLSearchParams): Promise<RegistryResponse> {
  if (req.service !== undefined) form.set('service', req.service);
  if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
  form.set('client_id', OAUTH2_CLIENT_ID);
  return send(
    'POST',
    req.realm,
    { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    Buffer.from(form.toString(), 'utf8'),
    req.signal,
  );
}

/**
 * Gets a token: with an `identityToken`, POST `grant_type=refresh_token`; with
 * username/password and `oauth2Password`, POST `grant_type=password` and fall
 * back to GET on 404/405; otherwise GET `realm?service=..&scope=..` with Basic
 * auth (or anonymous). Errors: `ERR_ORAS_UNAUTHORIZED` for 401/403,
 * `ERR_ORAS_HTTP` for other statuses or unusable bodies, `ERR_ORAS_BODY_TOO_LARGE`
 * past `maxBodyBytes`. Token bodies are never logged.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/token.md#requesting-a-token
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/oauth.md#getting-a-token
 */
export async function fetchToken(send: RawSend, req: TokenRequest): Promise<TokenResult> {
  const c = req.credential;
  if (c?.identityToken !== undefined && c.identityToken !== '') {
    const res = await postFlow(
      send,
      req,
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken }),
    );
    if (res.status !== 200) throw failure(res, req, 'OAuth2 refresh_token');
    return readToken(res, req);
  }
  if (req.oauth2Password && c?.username !== undefined && c.password !== undefined) {
    const res = await postFlow(
      send,
      req,
      new URLSearchParams({ grant_type: 'password', username: c.username, password: c.password }),
    );
    if (res.status === 404 || res.status === 405) {
      res.body.destroy();
      return getFlow(send, req);
    }
    if (res.status !== 200) throw failure(res, req, 'OAuth2 password');
    return readToken(res, req);
  }
  return getFlow(send, req);
}
