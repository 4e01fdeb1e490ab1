/**
 * TLS and connect options of the client's undici Agent: timeouts, certificate
 * verification, extra CAs (added to Node's roots), client certificates and the
 * vetted resolver.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { buildConnector } from 'undici';
import { OrasError } from '../errors.js';
import { vettedLookup, type LookupFunction } from './auth/metadata-hosts.js';
import { directOnRead, type DirectConnector } from './direct-get.js';
import { undiciLite } from './undici-lite.js';

/** The TLS-related subset of `RegistryClientOptions`. */
export interface TlsConnectInput {
  insecure?: boolean;
  ca?: string | Buffer;
  caFile?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  lookup?: LookupFunction;
  timeouts?: { connect?: number };
  connectTo?: ConnectTo;
}

/**
 * Where to open the connection for `hostname:port` instead of resolving it
 * (oras/curl `--resolve host:port:address[:address_port]`); undefined: as usual.
 * TLS still verifies the certificate against `hostname` and sends it as SNI;
 * the `Host` header is unchanged.
 */
export type ConnectTo = (hostname: string, port: number) => { address: string; port: number } | undefined;

/**
 * The Agent's `connect` option: the options of {@link buildConnectOptions}, or
 * with `connectTo` undici's connector over them that dials the mapped address
 * and port.
 */
export function agentConnect(
  options: TlsConnectInput,
  isRegistryHost: (host: string) => boolean,
): buildConnector.BuildOptions | buildConnector.connector {
  const base = buildConnectOptions(options, isRegistryHost);
  const connectTo = options.connectTo;
  if (connectTo === undefined) return base;
  return dialMapped(undiciLite.buildConnector(base), connectTo);
}

/**
 * A connector with the same options as {@link agentConnect}'s, for the
 * client's own HTTP/1.1 downloads (`direct-get.ts`): same TLS settings, vetted
 * resolver, `connectTo` and connect timeout.
 */
export function directConnector(options: TlsConnectInput, isRegistryHost: (host: string) => boolean): DirectConnector {
  const base = buildConnectOptions(options, isRegistryHost);
  const build = undiciLite.buildConnector;
  const tls = build(base) as unknown as DirectConnector;
  // Plain HTTP reads into the shared buffer of `directOnRead` (TLS sockets cannot: they decrypt into their own).
  const plain = build({ ...base, onread: directOnRead } as typeof base) as unknown as DirectConnector;
  const connect: DirectConnector = (opts, callback) => (opts.protocol === 'https:' ? tls : plain)(opts, callback);
  return options.connectTo === undefined ? connect : dialMapped(connect, options.connectTo);
}

/** `connect` dialing `connectTo`'s address and port; `host` (name:port) is kept, so TLS still names the original host. */
function dialMapped<C extends buildConnector.connector | DirectConnector>(connect: C, connectTo: ConnectTo): C {
  const mapped = (opts: Parameters<DirectConnector>[0], callback: Parameters<DirectConnector>[1]): unknown => {
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    const to = connectTo(opts.hostname, port);
    const next = to === undefined ? opts : { ...opts, hostname: to.address, port: String(to.port) };
    return (connect as unknown as DirectConnector)(next, callback);
  };
  return mapped as unknown as C;
}

/**
 * Builds the `connect` options of the Agent. `isRegistryHost` tells the
 * resolver which hosts the caller addressed (those may resolve anywhere).
 * Throws `ERR_ORAS_CONFIG` when `caFile` cannot be read.
 */
export function buildConnectOptions(options: TlsConnectInput, isRegistryHost: (host: string) => boolean) {
  const ca = readCa(options.ca, options.caFile);
  return {
    timeout: options.timeouts?.connect ?? 30_000,
    rejectUnauthorized: options.insecure !== true,
    lookup: vettedLookup(isRegistryHost, options.lookup),
    ...(ca !== undefined ? { ca: withSystemRoots(ca) } : {}),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
  };
}

/** `ca` followed by the contents of `caFile` (read now), or undefined when neither is set. */
function readCa(ca: string | Buffer | undefined, caFile: string | undefined): string | Buffer | undefined {
  if (caFile === undefined) return ca;
  try {
    const fromFile = readFileSync(caFile);
    return ca === undefined ? fromFile : Buffer.concat([Buffer.from(ca), Buffer.from('\n'), fromFile]);
  } catch (err) {
    throw new OrasError('ERR_ORAS_CONFIG', `cannot read CA file ${caFile}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check the --ca-file path',
    });
  }
}

/** Custom CAs are added to (not replacing) Node's bundled roots. */
function withSystemRoots(ca: string | Buffer): (string | Buffer)[] {
  return [...rootCertificates, ca];
}
