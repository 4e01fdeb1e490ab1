/**
 * The pieces of undici the client uses (`Agent`, the promise `request` API
 * and `buildConnector`), loaded from undici's own modules instead of its index: the index also
 * loads fetch, WebSocket, EventSource, caches and mocks, none of which the
 * client needs, and every network command would pay for loading them at
 * start-up (numbers in docs/BENCHMARKS.md).
 *
 * undici 7 has no `exports` map, so these paths are reachable, but they are not
 * its public API: when they are missing or shaped differently (a future
 * undici), this falls back to the public index, so behaviour never depends on
 * the shortcut — only start-up time does.
 */
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, buildConnector as BuildConnector, Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

/**
 * Options of {@link UndiciLite.request} (undici's request options without `dispatcher`). `body` may
 * also be an async iterable: undici sends one chunk by chunk, asking for the next once the socket
 * took the previous one (its dispatch documentation lists iterables; the request typings omit them).
 */
export type LiteRequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method' | 'body'> & {
  method: Dispatcher.HttpMethod;
  body?: Dispatcher.RequestOptions['body'] | AsyncIterable<Uint8Array>;
};

/** `Agent`, `request` bound to a dispatcher, and `buildConnector`. */
export interface UndiciLite {
  Agent: typeof UndiciAgent;
  /** undici's `buildConnector` (the connector of an Agent, and of the client's own reader). */
  buildConnector: typeof BuildConnector;
  /** Sends one request through `dispatcher` (same contract as undici's `request(url, { dispatcher, ... })`). */
  request(dispatcher: Dispatcher, url: string | URL, options: LiteRequestOptions): Promise<Dispatcher.ResponseData>;
  /** True when the shortcut modules were used (false: the public index). */
  lite: boolean;
}

type ApiRequest = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

function load(): UndiciLite {
  try {
    const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
    const apiRequest = require('undici/lib/api/api-request.js') as ApiRequest;
    const buildConnector = require('undici/lib/core/connect.js') as typeof BuildConnector;
    if (
      typeof Agent !== 'function' ||
      typeof apiRequest !== 'function' ||
      typeof buildConnector !== 'function' ||
      typeof Agent.prototype.dispatch !== 'function'
    )
      throw new Error('unexpected undici layout');
    return {
      Agent,
      buildConnector,
      lite: true,
      request(dispatcher, url, options) {
        // What undici's index does for `request(url, opts)` (makeDispatcher), minus the global dispatcher.
        const u = typeof url === 'string' ? new URL(url) : url;
        return apiRequest.call(dispatcher, {
          ...(options as Omit<Dispatcher.RequestOptions, 'origin' | 'path'>),
          origin: u.origin,
          path: `${u.pathname}${u.search}`,
        });
      },
    };
  } catch {
    const undici = require('undici') as typeof import('undici');
    return {
      Agent: undici.Agent,
      buildConnector: undici.buildConnector,
      lite: false,
      request: (dispatcher, url, options) =>
        undici.request(url, { ...(options as Omit<Dispatcher.RequestOptions, 'origin' | 'path'>), dispatcher }),
    };
  }
}

/** The loaded undici pieces (loaded once, on first import of this module). */
export const undiciLite: UndiciLite = load();
