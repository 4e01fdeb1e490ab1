/**
 * Listen/close helpers for test-owned HTTP servers that must stop at once:
 * every accepted socket is tracked so `closeTracked` can destroy keep-alive
 * connections instead of waiting for them.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Listens on a free 127.0.0.1 port, tracking sockets in `sockets`. */
export async function listenTracked(server: Server, sockets: Set<Socket>): Promise<{ host: string; url: string }> {
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` };
}

/** Destroys every tracked socket and closes the server. */
export async function closeTracked(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
