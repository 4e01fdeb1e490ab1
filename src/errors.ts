/**
 * One error class for the whole library. Callers and tests match on the stable
 * string {@link OrasError.code}; `hint` says what the user can do about it.
 * Messages never contain secrets: build them from redacted values only.
 */

/** Every stable error code the library throws. */
export type OrasErrorCode =
  | 'ERR_ORAS_INVALID_REFERENCE'
  | 'ERR_ORAS_INVALID_DIGEST'
  | 'ERR_ORAS_DIGEST_MISMATCH'
  | 'ERR_ORAS_SIZE_MISMATCH'
  | 'ERR_ORAS_INVALID_MANIFEST'
  | 'ERR_ORAS_MEDIA_TYPE_MISMATCH'
  | 'ERR_ORAS_MANIFEST_TOO_LARGE'
  | 'ERR_ORAS_BODY_TOO_LARGE'
  | 'ERR_ORAS_NOT_FOUND'
  | 'ERR_ORAS_UNAUTHORIZED'
  | 'ERR_ORAS_DENIED'
  | 'ERR_ORAS_UNSUPPORTED'
  | 'ERR_ORAS_HTTP'
  | 'ERR_ORAS_NETWORK'
  | 'ERR_ORAS_TIMEOUT'
  | 'ERR_ORAS_INSECURE'
  | 'ERR_ORAS_CROSS_ORIGIN'
  | 'ERR_ORAS_TOO_MANY_PAGES'
  | 'ERR_ORAS_CYCLE'
  | 'ERR_ORAS_PATH_TRAVERSAL'
  | 'ERR_ORAS_LIMIT_EXCEEDED'
  | 'ERR_ORAS_NO_SPACE'
  | 'ERR_ORAS_CREDENTIALS'
  | 'ERR_ORAS_CREDENTIAL_HELPER'
  | 'ERR_ORAS_ALREADY_EXISTS'
  | 'ERR_ORAS_IMMUTABLE_TAG'
  | 'ERR_ORAS_CONFIG'
  | 'ERR_ORAS_UNTRUSTED_CONFIG'
  | 'ERR_ORAS_USAGE'
  | 'ERR_ORAS_LOCKFILE'
  | 'ERR_ORAS_FROZEN_LOCKFILE'
  | 'ERR_ORAS_LOCK_MISMATCH'
  | 'ERR_ORAS_USER_MODIFIED'
  | 'ERR_ORAS_RESOLVE'
  | 'ERR_ORAS_OFFLINE'
  | 'ERR_ORAS_LOCKED'
  | 'ERR_ORAS_ABORTED'
  | 'ERR_ORAS_IO';

/** A registry's own error entry from an `{"errors":[...]}` body. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Options for {@link OrasError}. */
export interface OrasErrorOptions {
  /** What the user can do about it (one sentence). */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
  /** HTTP status of the response that caused it, when there was one. */
  status?: number;
  /** Error entries the registry returned, when it did. */
  registryErrors?: RegistryErrorEntry[];
  /**
   * Structured facts behind the message, for `--json` output and programs
   * (e.g. `{ issues: [{ path, message }] }` for a manifest with problems,
   * `{ changes: [...] }` for a frozen-lockfile diff, `{ name, tag, old, new }`
   * for a refused republish). Plain JSON values only; never secrets.
   */
  details?: Record<string, unknown>;
}

/** The base (and only) error class thrown by oras-ts. Match on `code`. */
export class OrasError extends Error {
  /** Stable machine-readable code, e.g. `ERR_ORAS_DIGEST_MISMATCH`. */
  readonly code: OrasErrorCode;
  /** What the user can do about it, when known. */
  readonly hint: string | undefined;
  /** HTTP status, when the error came from a response. */
  readonly status: number | undefined;
  /** The registry's error entries, when it sent any. */
  readonly registryErrors: RegistryErrorEntry[];
  /** Structured facts behind the message (see {@link OrasErrorOptions.details}), when any. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: OrasErrorCode, message: string, options: OrasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OrasError';
    this.code = code;
    this.hint = options.hint;
    this.status = options.status;
    this.registryErrors = options.registryErrors ?? [];
    this.details = options.details;
  }

  /** A plain object for `--json` output (no stack, no cause chain). */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.registryErrors.length > 0 ? { registryErrors: this.registryErrors } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

/** True when `err` is an {@link OrasError}, optionally with the given code. */
export function isOrasError(err: unknown, code?: OrasErrorCode): err is OrasError {
  return err instanceof OrasError && (code === undefined || err.code === code);
}
