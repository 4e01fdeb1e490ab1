/** Credential types shared by the auth layer and the credential stores. */

/**
 * Credentials for one registry. `username`+`password` for Basic auth and the
 * token GET flow; `identityToken` (an OAuth2 refresh token, e.g. from `docker
 * login` against some registries) for the token POST flow; `registryToken` is a
 * ready bearer token sent as is.
 */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

/**
 * Resolves credentials for a registry host (`host[:port]`, as in references).
 * Returns undefined when there are none (anonymous access).
 */
export type CredentialProvider = (registry: string) => Promise<Credential | undefined>;

/** True when `c` carries anything usable. */
export function hasCredential(c: Credential | undefined): c is Credential {
  return (
    c !== undefined &&
    ((c.username !== undefined && c.username !== '') ||
      (c.password !== undefined && c.password !== '') ||
      (c.identityToken !== undefined && c.identityToken !== '') ||
      (c.registryToken !== undefined && c.registryToken !== ''))
  );
}

/** Every secret value of `c` (for scrubbing messages). */
export function credentialSecrets(c: Credential | undefined): string[] {
  if (c === undefined) return [];
  return [c.password, c.identityToken, c.registryToken].filter((s): s is string => s !== undefined && s !== '');
}
