import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undiciLite } from '../../src/registry/undici-lite.js';

describe('undiciLite', () => {
  let server: ReturnType<typeof createServer>;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader('x-seen', `${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('uses the light modules with the installed undici (start-up ~45 ms cheaper); the fallback exists for other layouts', () => {
    expect(undiciLite.lite).toBe(true);
    // The connector builder too, also for `--resolve` (it loaded undici's whole index before).
    expect(undiciLite.buildConnector).toBe(createRequire(import.meta.url)('undici/lib/core/connect.js'));
  });

  it('sends method, path and query through the given agent like undici.request', async () => {
    const agent = new undiciLite.Agent({ connections: 1 });
    try {
      const r = await undiciLite.request(agent, `${base}/v2/a/b/blobs/uploads/?digest=sha256%3Aab&x=1`, {
        method: 'PUT',
        body: 'data',
      });
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-seen']).toBe('PUT /v2/a/b/blobs/uploads/?digest=sha256%3Aab&x=1');
      expect(await r.body.text()).toBe('ok');
      const u = await undiciLite.request(agent, new URL(`${base}/v2/`), { method: 'GET' });
      expect(u.headers['x-seen']).toBe('GET /v2/');
      await u.body.dump();
    } finally {
      await agent.close();
    }
  });
});
