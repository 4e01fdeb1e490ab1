/**
 * One authentication round of a registry request: what the client does with a
 * 401. The client bounds the rounds (first authentication plus one
 * re-authentication); this module decides, per 401, whether to retry with a new
 * Authorization header or fail with which error.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/token.md#how-to-authenticate
 */
import { OrasError } from '../../errors.js';
import type { Exchange } from '../exchange.js';
import { discardBody } from '../http-body.js';
import { errorFromResponse } from '../http-errors.js';
import { redactUrl } from '../redact.js';
import type { Authorizer, AuthState, AuthTarget } from './authorizer.js';

/** Auth rounds answered per request: the first authentication plus one re-authentication. */
export const MAX_AUTH_ROUNDS = 2;

/** The request context of an auth round. */
export interface AuthRound {
  auth: Authorizer;
  target: AuthTarget;
  state: AuthState;
  /** Rounds already answered for this request. */
  rounds: number;
  method: string;
  url: URL;
  maxErrorBodyBytes: number;
}

/**
 * Answers a 401 `res`: returns the Authorization header to retry with, or
 * throws `ERR_ORAS_CROSS_ORIGIN` (a foreign origin asked for credentials),
 * `ERR_ORAS_DENIED` (authenticated but insufficient scope) or
 * `ERR_ORAS_UNAUTHORIZED`. The body of `res` is always consumed.
 */
export async function answerUnauthorized(res: Exchange, round: AuthRound): Promise<string> {
  const { auth, target, state, method, url } = round;
  const challenge = res.headers['www-authenticate'];
  if (!res.onRegistryOrigin) {
    discardBody(res.body);
    throw new OrasError(
      'ERR_ORAS_CROSS_ORIGIN',
      `${res.url.origin}, which is not the registry origin, asked for credentials on ${method} ${redactUrl(res.url)}`,
      {
        status: 401,
        hint: 'registry credentials are never sent to another origin (redirect targets, foreign upload locations); that server must not require authentication',
      },
    );
  }
  const errorOpts = () => ({
    method,
    registry: url.host,
    authenticated: state.sent !== undefined,
    maxBodyBytes: round.maxErrorBodyBytes,
  });
  if (round.rounds < MAX_AUTH_ROUNDS) {
    let outcome: Awaited<ReturnType<Authorizer['onChallenge']>>;
    try {
      outcome = await auth.onChallenge(target, challenge, state);
    } catch (err) {
      discardBody(res.body);
      throw err;
    }
    if ('authorization' in outcome) {
      discardBody(res.body);
      return outcome.authorization;
    }
    const e = await errorFromResponse(res, errorOpts());
    throw outcome.fail === 'denied' ? asDenied(e, url.host) : e;
  }
  const kind = await auth.finalFailure(target, challenge, state).catch(() => 'unauthorized' as const);
  const e = await errorFromResponse(res, errorOpts());
  throw kind === 'denied' ? asDenied(e, url.host) : e;
}

/** A 401 `insufficient_scope` after authenticating with credentials: the account lacks access. */
function asDenied(e: OrasError, registry: string): OrasError {
  return new OrasError(
    'ERR_ORAS_DENIED',
    `${e.message} (insufficient scope: the token granted lacks the requested access)`,
    {
      status: 401,
      registryErrors: e.registryErrors,
      hint: `your credentials lack the needed access (e.g. push access) to this repository on ${registry}`,
    },
  );
}
