/**
 * TLS and connect options of the client's undici Agent: timeouts, certificate
 * verification, extra CAs (added to Node's roots), client certificates and the
 * vetted resolver.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { OrasError } from '../errors.js';
import { vettedLookup, type LookupFunction } from './auth/metadata-hosts.js';

/** The TLS-related subset of `RegistryClientOptions`. */
export interface TlsConnectInput {
  insecure?: boolean;
  ca?: string | Buffer;
  caFile?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  lookup?: LookupFunction;
  timeouts?: { connect?: number };
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
