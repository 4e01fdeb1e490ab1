/**
 * A test-owned HTTP proxy (node:http, 127.0.0.1 only) in front of a REAL registry, with
 * programmable per-request faults. Every request is recorded with a monotonic timestamp taken
 * when it arrived, so tests can assert client behaviour (e.g. "waited at least Retry-After")
 * from the server side instead of timing the test.
 *
 * The `Host` header is forwarded unchanged, so distribution builds its `Location` URLs
 * (upload sessions) on the proxy's origin and every follow-up request also passes through.
 *
 * ```ts
 * const proxy = await startFaultProxy(registry.url);
 * proxy.addFault({ method: 'GET', path: /\/blobs\//, times: 1, fault: { kind: 'reset-after', bytes: 4096 } });
 * const client = new RegistryClient({ plainHttp: true });           // talk to proxy.host
 * ```
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { closeTracked, listenTracked } from './tracked-server.js';

/** One programmable fault. */
export type Fault =
  /** Forward upstream's status and headers, then `bytes` body bytes, then reset the TCP connection (RST). */
  | { kind: 'reset-after'; bytes: number }
  /** Like `reset-after` but closes the connection gracefully (FIN): a body truncated under a correct Content-Length. */
  | { kind: 'truncate'; bytes: number }
  /** Forward upstream's headers and `bytes` body bytes, then stall (send nothing) for `stallMs`, then drop the connection. */
  | { kind: 'stall-after'; bytes: number; stallMs: number }
  /** Drop the request's `Range` header before forwarding: upstream answers 200 with the full body. */
  | { kind: 'ignore-range' }
  /** Answer directly with this status (upstream is not contacted). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward the request (upstream acts on it), but answer the client with this status instead of upstream's. */
  | { kind: 'status-after-forward'; status: number; headers?: Record<string, string>; body?: string }
  /** Reset the connection before any response (upstream is not contacted). */
  | { kind: 'reset' }
  /** Hold the request for `ms`, then forward it and its response unchanged (a slow request among fast ones). */
  | { kind: 'delay'; ms: number };

/** A fault rule: applies to at most `times` matching requests (default 1), in arrival order. */
export interface FaultRule {
  method?: string;
  /** Matched against the request path + query. */
  path?: RegExp;
  /** Only requests carrying this header (lower-case name) match; `true` = any value. */
  header?: { name: string; value: string | RegExp | true };
  /** Skip this many matching requests before faulting. Default 0. */
  skip?: number;
  times?: number;
  fault: Fault;
}

/** One request the proxy saw. */
export interface ProxiedRequest {
  seq: number;
  method: string;
  /** Path + query as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** `performance.now()` when the request arrived (ms, monotonic). */
  at: number;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
  /** Status sent to the client (undefined when the connection was reset before a response). */
  status?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT` — use it as the registry host. */
  host: string;
  url: string;
  /** Every request seen, in arrival order. */
  requests: ProxiedRequest[];
  addFault(rule: FaultRule): void;
  /** Removes all pending faults. */
  clearFaults(): void;
  /** Requests whose method (and path) match. */
  matching(method: string, path?: RegExp): ProxiedRequest[];
  close(): Promise<void>;
}

interface LiveRule extends FaultRule {
  left: number;
  skipLeft: number;
}

function headerMatches(req: IncomingMessage, h: FaultRule['header']): boolean {
  if (h === undefined) return true;
  const v = req.headers[h.name];
  if (v === undefined) return false;
  if (h.value === true) return true;
  const s = Array.isArray(v) ? v.join(', ') : v;
  return typeof h.value === 'string' ? s === h.value : h.value.test(s);
}

/** Starts a fault proxy forwarding to `upstreamUrl` (a plain-HTTP registry, e.g. `http://127.0.0.1:5000`). */
export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  if (upstream.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(upstream.hostname)) {
    throw new Error(`fault proxy only forwards to plain-HTTP loopback registries, not ${upstreamUrl}`);
  }
  const rules: LiveRule[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;

  const take = (req: IncomingMessage): Fault | undefined => {
    for (const r of rules) {
      if (r.left <= 0) continue;
      if (r.method !== undefined && r.method !== req.method) continue;
      if (r.path !== undefined && !r.path.test(req.url ?? '')) continue;
      if (!headerMatches(req, r.header)) continue;
      if (r.skipLeft > 0) {
        r.skipLeft--;
        continue;
      }
      r.left--;
      return r.fault;
    }
    return undefined;
  };

  const forward = (
    req: IncomingMessage,
    rec: ProxiedRequest,
    dropRange: boolean,
    onResponse: (up: IncomingMessage) => void,
    onError: () => void,
  ): void => {
    const headers = { ...req.headers };
    if (dropRange) delete headers['range'];
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      onResponse,
    );
    up.on('error', onError);
    req.pipe(up);
    void rec;
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const rec: ProxiedRequest = {
      seq: ++seq,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: { ...req.headers },
      at: performance.now(),
    };
    requests.push(rec);
    const fault = take(req);
    if (fault !== undefined) rec.fault = fault.kind;
    const fail = (): void => {
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else res.destroy();
    };
    if (fault?.kind === 'reset') {
      req.resume();
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        rec.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.headers ?? {}) });
        res.end(fault.body ?? '');
      });
      return;
    }
    if (fault?.kind === 'delay') {
      const t = setTimeout(() => {
        timers.delete(t);
        proxy(req, res, rec, undefined, fail);
      }, fault.ms);
      timers.add(t);
      return;
    }
    proxy(req, res, rec, fault, fail);
  };

  /** Forwards `req` upstream and its response to `res`, applying a fault that acts on the response. */
  const proxy = (
    req: IncomingMessage,
    res: ServerResponse,
    rec: ProxiedRequest,
    fault: Fault | undefined,
    fail: () => void,
  ): void => {
    forward(
      req,
      rec,
      fault?.kind === 'ignore-range',
      (up) => {
        if (fault?.kind === 'status-after-forward') {
          up.resume();
          up.on('end', () => {
            rec.status = fault.status;
            res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.headers ?? {}) });
            res.end(fault.body ?? '');
          });
          return;
        }
        rec.status = up.statusCode ?? 502;
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (fault?.kind === 'reset-after' || fault?.kind === 'truncate' || fault?.kind === 'stall-after') {
          let sent = 0;
          let cut = false;
          up.on('data', (chunk: Buffer) => {
            if (cut) return;
            const room = fault.bytes - sent;
            if (chunk.length >= room) {
              cut = true;
              if (room > 0) res.write(chunk.subarray(0, room));
              sent += Math.max(0, room);
              up.destroy();
              const sock = res.socket;
              if (fault.kind === 'reset-after') setImmediate(() => sock?.resetAndDestroy());
              else if (fault.kind === 'truncate') setImmediate(() => sock?.end());
              else {
                const t = setTimeout(() => {
                  timers.delete(t);
                  sock?.destroy();
                }, fault.stallMs);
                timers.add(t);
              }
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          up.on('end', () => {
            if (!cut) res.end();
          });
          return;
        }
        up.pipe(res);
      },
      fail,
    );
  };

  const server: Server = createServer(handler);
  const addr = await listenTracked(server, sockets);
  return {
    ...addr,
    requests,
    addFault: (rule) => rules.push({ ...rule, left: rule.times ?? 1, skipLeft: rule.skip ?? 0 }),
    clearFaults: () => rules.splice(0),
    matching: (method, path) => requests.filter((r) => r.method === method && (path === undefined || path.test(r.url))),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await closeTracked(server, sockets);
    },
  };
}
