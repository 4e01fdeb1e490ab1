/** Test-owned HTTP(S) servers on 127.0.0.1 for fault injection. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';

/** One request a test server saw. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A running test server. */
export interface TestServer {
  host: string;
  origin: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string, n: number) => void;

/** Starts a server; `tls` = {cert,key} files for HTTPS. Bodies are read fully (tests are small). */
export async function startServer(handler: Handler, tls?: { certFile: string; keyFile: string }): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body });
      handler(req, res, body, seen.length);
    });
  };
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, listener)
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    host,
    origin: `${tls ? 'https' : 'http'}://${host}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends a JSON body. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Registers an `afterEach` that closes every server and client handed out, and
 * returns the factories: `server(handler, tls?)` and `client(opts, debugLines?)`
 * (a RegistryClient with millisecond retry delays; debug lines collected into
 * `debugLines` when given).
 */
export function useTestServers(): {
  server: (...args: Parameters<typeof startServer>) => Promise<TestServer>;
  client: (opts?: RegistryClientOptions, debugLines?: string[]) => RegistryClient;
} {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((f) => f()));
  });
  return {
    server: async (...args) => {
      const s = await startServer(...args);
      cleanup.push(() => s.close());
      return s;
    },
    client: (opts = {}, debugLines) => {
      const c = new RegistryClient({
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
        ...(debugLines ? { onDebug: (l: string) => debugLines.push(l) } : {}),
        ...opts,
      });
      cleanup.push(() => c.close());
      return c;
    },
  };
}
