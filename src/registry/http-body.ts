/**
 * Small helpers for undici responses: header normalisation and safe disposal
 * of bodies the client does not hand to its caller.
 */
import type { Readable } from 'node:stream';

/** Joins undici header values to the `Record<string,string>` form of `RegistryResponse`. */
export function normalizeHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Discards a response body without throwing (reads a little to keep the connection, then destroys). */
export function discardBody(body: Readable): void {
  const b = body as Readable & { dump?: (o: { limit: number }) => Promise<void> };
  if (typeof b.dump === 'function') {
    b.dump({ limit: 64 * 1024 }).catch(() => undefined);
  } else {
    body.resume();
    body.on('error', () => undefined);
    body.destroy();
  }
}

/**
 * undici bodies emit an AbortError when destroyed before the end; with no
 * listener that would be an uncaught exception. Readers (for await, pipeline)
 * still see errors through their own listeners; `destroy()` becomes safe.
 */
export function safeBody<T extends Readable>(body: T): T {
  body.on('error', () => undefined);
  return body;
}
