/**
 * Helpers for tests using the harness registries.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { inject } from 'vitest';
import type { RegistryInfo, RegistryMode, TestRegistries, TestUser } from './types.js';

export type { RegistryInfo, RegistryMode, TestRegistries, TestUser } from './types.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A collision-free repository name: `prefix` (lower-cased, characters outside `[a-z0-9._/-]`
 * replaced by `-`) + `-` + 10 random lower-case alphanumerics. E.g. `uniqueRepo('push/basic')`
 * → `push/basic-k3j9x0a1bq`.
 */
export function uniqueRepo(prefix: string): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9._/-]/g, '-')
      .replace(/^[^a-z0-9]+/, '') || 'test';
  const bytes = randomBytes(10);
  let suffix = '';
  for (const b of bytes) suffix += ALPHABET[b % ALPHABET.length];
  return `${clean}-${suffix}`;
}

/** The registries started by the global setup (`inject('registries')`). */
export function registries(): TestRegistries {
  const value = inject('registries') as TestRegistries | undefined;
  if (value === undefined) {
    throw new Error(
      'this test needs the harness registries, but it runs in the "unit" project: add its path to INTEGRATION in vitest.config.ts',
    );
  }
  return value;
}

/** One harness registry by mode. */
export function registry(mode: RegistryMode): RegistryInfo {
  return registries()[mode];
}

/** The first user of `info` with the given access; throws if none (plain/tls have no users). */
export function userOf(info: RegistryInfo, access: 'push' | 'pull' = 'push'): TestUser {
  const u = info.users.find((x) => x.access === access);
  if (!u) throw new Error(`registry ${info.mode} has no ${access} user`);
  return u;
}

/** `Authorization: Basic …` header value for a user. */
export function basicAuthHeader(user: TestUser): string {
  return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
}

/**
 * An undici Agent trusting the registry's test CA (tls mode), or a default Agent otherwise.
 * Callers close it (`await agent.close()`).
 */
export function agentFor(info: RegistryInfo): Agent {
  if (info.caFile) return new Agent({ connect: { ca: readFileSync(info.caFile, 'utf8') } });
  return new Agent();
}
