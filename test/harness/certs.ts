/**
 * Test PKI made with the machine's `openssl` binary: a CA + server certificate for the TLS
 * registry, and a self-signed RSA signing certificate for the token server.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr ?? e.message}`);
  }
}

/** Files of a test CA plus a server certificate it signed. */
export interface TlsMaterial {
  /** CA certificate (PEM). */
  caFile: string;
  /** Directory containing only `ca.crt` (copy of caFile), as skopeo/containers expect. */
  certDir: string;
  /** Server certificate (PEM), SAN `IP:127.0.0.1, DNS:localhost`. */
  certFile: string;
  /** Server private key (PEM, unencrypted). */
  keyFile: string;
}

/**
 * Creates in `dir` a fresh CA (RSA 2048, valid 2 days) and a server certificate for
 * `127.0.0.1` / `localhost` signed by it. Requires `openssl` on PATH.
 */
export async function makeTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=oras-ts test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost'],
    dir,
  );
  await writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      '2',
      '-extfile',
      ext,
    ],
    dir,
  );
  const certDir = join(dir, 'certs.d');
  await mkdir(certDir, { recursive: true });
  await copyFile(caFile, join(certDir, 'ca.crt'));
  return { caFile, certDir, certFile, keyFile };
}

/** A token-signing key pair. */
export interface SigningMaterial {
  /** Self-signed certificate (PEM) — the registry's `rootcertbundle`. */
  certFile: string;
  /** RSA private key (PEM). */
  keyFile: string;
  /** Private key PEM text. */
  keyPem: string;
  /** Base64 (standard, not url-safe) DER of the certificate, for the JWT `x5c` header. */
  certDerBase64: string;
}

/** Creates in `dir` an RSA 2048 key and a self-signed certificate (valid 2 days) for signing tokens. */
export async function makeSigningMaterial(dir: string): Promise<SigningMaterial> {
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, 'token-signing.key');
  const certFile = join(dir, 'token-signing.pem');
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=oras-ts test token issuer',
    ],
    dir,
  );
  const keyPem = await readFile(keyFile, 'utf8');
  const certPem = await readFile(certFile, 'utf8');
  const certDerBase64 = pemBody(certPem);
  return { certFile, keyFile, keyPem, certDerBase64 };
}

function pemBody(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('no certificate in PEM');
  return m[1].replace(/\s+/g, '');
}
