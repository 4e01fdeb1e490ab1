// The library's oras.yaml → client settings mapping (what `oras` and `install({ config })` share).
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/project/spec/config.js';
import { registryClientOptions } from '../../src/targets/registry-access.js';
import { ProjectTargets } from '../../src/targets/project-targets.js';

const config = resolveConfig(
  {
    registries: {
      'tls.example:5000': { caFile: '/etc/ca.pem', headers: { 'X-A': 'config', 'X-B': 'config' } },
      'loop.example': { plainHttp: true },
    },
    timeouts: { request: 30, speedLimit: 10 },
  },
  '/project',
  {},
);

describe('registryClientOptions', () => {
  it('config settings per host (port-less entry as fallback), access on top', async () => {
    const o = await registryClientOptions('tls.example:5000', {
      config,
      access: { headers: { 'X-B': 'flag' }, timeouts: { request: 5 } },
      env: {},
    });
    expect(o).toMatchObject({ plainHttp: false, caFile: '/etc/ca.pem', headers: { 'X-A': 'config', 'X-B': 'flag' } });
    expect(o.timeouts).toEqual({ request: 5000, speedLimit: 10 });
    expect((await registryClientOptions('loop.example:443', { config, env: {} })).plainHttp).toBe(true);
    expect(
      (await registryClientOptions('loop.example', { config, access: { plainHttp: false }, env: {} })).plainHttp,
    ).toBe(false);
  });

  it('ORAS_TIMEOUT in env sits between access and config; a bad value names the variable', async () => {
    const o = await registryClientOptions('x.example', { config, env: { ORAS_TIMEOUT: '7' } });
    expect(o.timeouts).toEqual({ request: 7000, speedLimit: 10 });
    await expect(registryClientOptions('x.example', { config, env: { ORAS_TIMEOUT: 'soon' } })).rejects.toMatchObject({
      code: 'ERR_ORAS_USAGE',
      message: expect.stringContaining('ORAS_TIMEOUT'),
    });
  });

  it('an explicit credential goes to the client host only; env credentials per host', async () => {
    const o = await registryClientOptions('a.example', {
      access: { credential: { username: 'u', password: 'p' } },
      env: {
        ORAS_REGISTRY_B_EXAMPLE_USERNAME: 'bu',
        ORAS_REGISTRY_B_EXAMPLE_PASSWORD: 'bp',
        DOCKER_CONFIG: '/nonexistent',
      },
    });
    expect(await o.credentials!('a.example')).toEqual({ username: 'u', password: 'p' });
    expect(await o.credentials!('b.example')).toEqual({ username: 'bu', password: 'bp' });
    expect(await o.credentials!('c.example')).toBeUndefined();
  });

  it('a client certificate without its key is refused', async () => {
    await expect(registryClientOptions('a.example', { access: { certFile: '/c.pem' }, env: {} })).rejects.toMatchObject(
      {
        code: 'ERR_ORAS_USAGE',
      },
    );
  });
});

describe('ProjectTargets', () => {
  it('a host mapped with ociLayout opens <ociLayout>/<repo> without any HTTP client', async () => {
    const cfg = resolveConfig(
      { registries: { 'fixtures.example': { ociLayout: 'layouts' } } },
      '/nonexistent-root',
      {},
    );
    const targets = new ProjectTargets({ config: cfg, env: {} });
    // Read-only: a missing layout is an error naming it, never created.
    await expect(targets.readFactory()('fixtures.example/tools/lint')).rejects.toThrow(
      /nonexistent-root\/layouts\/tools\/lint/,
    );
    await expect(targets.readFactory()('no-slash')).rejects.toMatchObject({ code: 'ERR_ORAS_USAGE' });
    await targets.close();
  });
});
