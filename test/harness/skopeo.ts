/**
 * Runs the machine's `skopeo` (/usr/bin/skopeo) against harness registries.
 */
import { execFile } from 'node:child_process';
import type { RegistryInfo, TestUser } from './types.js';

/** Path of the skopeo binary (Debian package `skopeo`). */
export const SKOPEO_BIN = '/usr/bin/skopeo';

/** Options of {@link skopeo}. */
export interface SkopeoOptions {
  /** Kill skopeo after this many ms. Default 60 000. */
  timeoutMs?: number;
  /** Prepend the global `--insecure-policy` flag (no signature policy). Default true. */
  insecurePolicy?: boolean;
}

/**
 * Runs `skopeo [--insecure-policy] ...args`; resolves with stdout, rejects (with stderr in the
 * message) on non-zero exit or timeout. `$HOME`/auth files are not consulted beyond skopeo's
 * defaults; pass credentials with {@link skopeoFlags}.
 */
export async function skopeo(args: string[], opts: SkopeoOptions = {}): Promise<string> {
  const full = [...(opts.insecurePolicy === false ? [] : ['--insecure-policy']), ...args];
  const timeout = opts.timeoutMs ?? 60_000;
  return await new Promise<string>((resolve, reject) => {
    execFile(
      SKOPEO_BIN,
      full,
      { timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as Error & { killed?: boolean };
          const why = e.killed ? `timed out after ${timeout} ms` : e.message;
          reject(new Error(`skopeo ${args[0] ?? ''} failed: ${why}\n${stderr}`));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/**
 * TLS + credential flags for using `info` as skopeo's source (`src`) or destination (`dest`):
 * plain HTTP → `--<side>-tls-verify=false`; tls → `--<side>-cert-dir <certDir>`; with a user →
 * `--<side>-creds user:pass`. `user` defaults to the registry's first push user (if any);
 * pass `null` for anonymous.
 */
export function skopeoFlags(info: RegistryInfo, side: 'src' | 'dest', user?: TestUser | null): string[] {
  const flags: string[] = [];
  if (info.mode === 'tls') {
    if (!info.certDir) throw new Error('tls registry without certDir');
    flags.push(`--${side}-cert-dir`, info.certDir);
  } else {
    flags.push(`--${side}-tls-verify=false`);
  }
  const u = user === undefined ? info.users.find((x) => x.access === 'push') : user;
  if (u) flags.push(`--${side}-creds`, `${u.username}:${u.password}`);
  return flags;
}

/** {@link skopeoFlags} for the destination side. */
export function skopeoDestFlags(info: RegistryInfo, user?: TestUser | null): string[] {
  return skopeoFlags(info, 'dest', user);
}

/** {@link skopeoFlags} for the source side. */
export function skopeoSrcFlags(info: RegistryInfo, user?: TestUser | null): string[] {
  return skopeoFlags(info, 'src', user);
}

/**
 * Flags for single-image commands (`inspect`, `delete`, `list-tags`) that take
 * `--tls-verify` / `--cert-dir` / `--creds` without a side prefix.
 */
export function skopeoImageFlags(info: RegistryInfo, user?: TestUser | null): string[] {
  return skopeoFlags(info, 'dest', user).map((f) => f.replace(/^--dest-/, '--'));
}

/** `docker://HOST/REPO:TAG` (or `@digest` when `ref` starts with `sha256:`). */
export function dockerRef(info: RegistryInfo, repo: string, ref: string): string {
  return `docker://${info.host}/${repo}${ref.includes(':') ? `@${ref}` : `:${ref}`}`;
}
