import { readFile } from 'node:fs/promises';
import { OrasError } from '../errors.js';
import type { OrasConfig } from '../project/spec/config.js';
import type { RegistryClient, RegistryClientOptions } from '../registry/client.js';
import type { Credential } from '../registry/credentials/types.js';
import type { DebugSink } from '../registry/debug.js';
import type { ConnectTo } from '../registry/tls-connect.js';
import { registrySettings } from './registry-settings.js';
import { registryTimeouts, type TimeoutSettings } from './transfer-timeouts.js';

/**
 * Settings that take precedence over the oras config's `registries.<host>` entry for every host a
 * client is built for (the CLI passes its command-line flags here; a flag always wins). All optional.
 */
export interface RegistryAccess {
  /** Plain HTTP (`false`: HTTPS even for loopback hosts). Default: the host's `plainHttp`, else HTTPS except for loopback hosts, which use HTTPS only when TLS settings are given. */
  plainHttp?: boolean;
  /** Skip TLS certificate verification (`true` only adds; the host's `insecure: true` still applies). */
  insecure?: boolean;
  /** PEM CA bundle to trust (instead of the host's `caFile`). */
  caFile?: string;
  /** PEM client certificate for mTLS; needs {@link RegistryAccess.keyFile} (with the host's pair as fallback). */
  certFile?: string;
  /** PEM client key for mTLS. */
  keyFile?: string;
  /** Extra headers, merged over the host's `headers` (never logged). */
  headers?: Record<string, string>;
  /** docker-style config.json with credentials (default: the config's `credentials.configPath`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). */
  registryConfig?: string;
  /** An explicit credential, used only for the host the client is built for (never for mirrors or other hosts). */
  credential?: Credential;
  /** Time bounds (seconds; `speedLimit` bytes/s) over `ORAS_TIMEOUT`/`ORAS_SPEED_*` and the config's `timeouts`. */
  timeouts?: TimeoutSettings;
  /** Receives redacted HTTP debug lines (the CLI's `--debug`). */
  onDebug?: DebugSink;
  /** Custom address mapping for connections (the CLI's `--resolve`; see `RegistryClientOptions.connectTo`). */
  connectTo?: ConnectTo;
}

/** Options of {@link createRegistryClientFor}. */
export interface RegistryClientForOptions {
  /** The loaded oras config (`loadConfig`); default: none (only `access` and the defaults apply). */
  config?: OrasConfig;
  /** Settings over the config's (see {@link RegistryAccess}). */
  access?: RegistryAccess;
  /** Environment for `ORAS_REGISTRY_<HOST>_*` credentials, `DOCKER_CONFIG`, credential helpers and `ORAS_TIMEOUT`/`ORAS_SPEED_*`; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The {@link RegistryClientOptions} for `host`, exactly as the `oras` CLI computes them: the
 * config's `registries.<host>` settings (see `registrySettings`), with `access` on top.
 * TLS settings (CA, client certificate, insecure) say the host speaks HTTPS, even on loopback.
 * Credentials: `access.credential` for this host, then `ORAS_REGISTRY_<HOST>_*` in `env`, then the
 * docker config file (`access.registryConfig`, else the config's `credentials.configPath`, else
 * the default). A certificate without its key (or the reverse) → `ERR_ORAS_USAGE`; unreadable
 * certificate files → the file system error.
 */
export async function registryClientOptions(
  host: string,
  options: RegistryClientForOptions = {},
): Promise<RegistryClientOptions> {
  const access = options.access ?? {};
  const reg = registrySettings(options.config, host);
  const certFile = access.certFile ?? reg.certFile;
  const keyFile = access.keyFile ?? reg.keyFile;
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new OrasError('ERR_ORAS_USAGE', `a client certificate needs both a cert and a key file (registry ${host})`);
  const caFile = access.caFile ?? reg.caFile;
  const insecure = access.insecure === true || reg.insecure === true;
  // TLS settings for a host say it speaks HTTPS, even on loopback (where plain HTTP is the default).
  const wantsTls = caFile !== undefined || certFile !== undefined || insecure;
  const plainHttp = access.plainHttp ?? reg.plainHttp ?? (wantsTls ? false : undefined);
  const configPath = access.registryConfig ?? options.config?.credentials.configPath;
  const { createCredentialProvider } = await import('../registry/credentials/provider.js');
  const result: RegistryClientOptions = {
    credentials: createCredentialProvider({
      ...(configPath !== undefined ? { configPath } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
      ...(access.credential !== undefined ? { ...access.credential, registry: host } : {}),
    }),
    headers: { ...(reg.headers ?? {}), ...(access.headers ?? {}) },
    ...(plainHttp !== undefined ? { plainHttp } : {}),
    ...(insecure ? { insecure: true } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { cert: await readFile(certFile) } : {}),
    ...(keyFile !== undefined ? { key: await readFile(keyFile) } : {}),
  };
  const timeouts = registryTimeouts(options.config, options.env, access.timeouts);
  if (Object.keys(timeouts).length > 0) result.timeouts = timeouts;
  if (access.onDebug !== undefined) result.onDebug = access.onDebug;
  if (access.connectTo !== undefined) result.connectTo = access.connectTo;
  return result;
}

/**
 * A {@link RegistryClient} for `host` configured as the `oras` CLI would configure it from the
 * same oras config and flags (see {@link registryClientOptions}). The HTTP stack (undici) is
 * loaded on the first call. Close the client when done.
 */
export async function createRegistryClientFor(
  host: string,
  options: RegistryClientForOptions = {},
): Promise<RegistryClient> {
  const clientOptions = await registryClientOptions(host, options);
  // Loaded here, not at start-up: undici is the most expensive module to compile.
  const { RegistryClient } = await import('../registry/client.js');
  return new RegistryClient(clientOptions);
}
