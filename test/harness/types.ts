/**
 * Shared types of the integration-test registry harness (see README.md beside this file).
 *
 * Everything in {@link TestRegistries} / {@link RegistryInfo} is plain data: it crosses the
 * vitest `provide`/`inject` boundary (structured clone), so it holds no functions.
 */

/** How a test registry is exposed. */
export type RegistryMode = 'plain' | 'basic' | 'tls' | 'token';

/** A user known to a test registry (basic: htpasswd entry; token: token-server account). */
export interface TestUser {
  username: string;
  password: string;
  /** `push` = pull+push+delete (+ catalog in token mode); `pull` = pull only (token mode). */
  access: 'push' | 'pull';
}

/** Connection facts about one running test registry. */
export interface RegistryInfo {
  mode: RegistryMode;
  /** `"127.0.0.1:PORT"`. */
  host: string;
  /** `"http://127.0.0.1:PORT"` or `"https://127.0.0.1:PORT"` (tls mode). */
  url: string;
  /** tls mode: PEM file of the test CA that signed the registry's certificate. */
  caFile?: string;
  /** tls mode: a directory holding only `ca.crt` (a copy of caFile), for `skopeo --*-cert-dir`. */
  certDir?: string;
  /** Empty for plain/tls. */
  users: TestUser[];
  /** token mode: the token endpoint (`realm` of the Bearer challenge). */
  tokenRealm?: string;
  /** token mode: the `service` the registry expects in tokens. */
  tokenService?: string;
  /** token mode: `GET` returns the token server's {@link TokenServerStats} as JSON. */
  tokenStatsUrl?: string;
  /** The registry's on-disk storage root (`storage.filesystem.rootdirectory`). */
  storageDir: string;
  /** File receiving the registry process' stdout/stderr (log level `warn`). */
  logFile?: string;
}

/** What the global setup provides as `inject('registries')`. */
export interface TestRegistries {
  plain: RegistryInfo;
  basic: RegistryInfo;
  tls: RegistryInfo;
  token: RegistryInfo;
}

/** One request seen by the token server (kept in a bounded log). */
export interface TokenRequestRecord {
  /** 1-based sequence number. */
  seq: number;
  /** `get` (GET realm), `password` / `refresh_token` (POST grant types), `other`. */
  kind: 'get' | 'password' | 'refresh_token' | 'other';
  /** Authenticated user, or null for anonymous / failed. */
  user: string | null;
  /** HTTP status answered. */
  status: number;
  /** Scopes requested (raw strings). */
  scopes: string[];
  /** Access granted, as `type:name:actions` strings. */
  granted: string[];
}

/** Counters of a token server, returned by its stats endpoint and `stats()`. */
export interface TokenServerStats {
  /** All requests to the token endpoint. */
  total: number;
  get: number;
  password: number;
  refreshToken: number;
  /** Answers with status 401. */
  unauthorized: number;
  /** Answers with status 400. */
  badRequest: number;
  /** The most recent requests (at most 1000), oldest first. */
  log: TokenRequestRecord[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    registries: TestRegistries;
  }
}
