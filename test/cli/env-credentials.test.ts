/**
 * Credentials from ORAS_REGISTRY_<HOST>_* environment variables (as CI secrets arrive): the built
 * CLI pushes to and pulls from the htpasswd registry with no docker config and no login, writes no
 * credential to disk, and prints none. Unit checks of the variable names and the precedence.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialFromEnv, envKeyOf } from '../../src/registry/credentials/env.js';
import { createCredentialProvider } from '../../src/registry/credentials/provider.js';
import { registry, uniqueRepo, userOf } from '../harness/context.js';
import { baseEnv, ensureBuilt, runCli, show, tempDir } from './helpers.js';

describe('env credential names', () => {
  it('maps hosts to variable keys', () => {
    expect(envKeyOf('ghcr.io')).toBe('GHCR_IO');
    expect(envKeyOf('localhost:5000')).toBe('LOCALHOST_5000');
    expect(envKeyOf('registry-1.docker.io')).toBe('DOCKER_IO');
    expect(envKeyOf('https://index.docker.io/v1/')).toBe('DOCKER_IO');
  });

  it('reads username/password/tokens, ignores empty values and other hosts', () => {
    const env = {
      ORAS_REGISTRY_GHCR_IO_USERNAME: 'u',
      ORAS_REGISTRY_GHCR_IO_PASSWORD: 'p',
      ORAS_REGISTRY_QUAY_IO_PASSWORD: '',
    };
    expect(credentialFromEnv('ghcr.io', env)).toEqual({ username: 'u', password: 'p' });
    expect(credentialFromEnv('quay.io', env)).toBeUndefined();
    expect(credentialFromEnv('ghcr.io', { ORAS_REGISTRY_GHCR_IO_REGISTRY_TOKEN: 't' })).toEqual({ registryToken: 't' });
  });

  it('explicit credentials win over the environment, the environment over the docker config', async () => {
    const dir = await tempDir('oras-envcred-');
    try {
      const configPath = join(dir.dir, 'config.json');
      await writeFile(
        configPath,
        JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('file:filepw').toString('base64') } } }),
      );
      const env = { ORAS_REGISTRY_GHCR_IO_USERNAME: 'env', ORAS_REGISTRY_GHCR_IO_PASSWORD: 'envpw' };
      expect(await createCredentialProvider({ configPath, env })('ghcr.io')).toEqual({
        username: 'env',
        password: 'envpw',
      });
      expect(
        await createCredentialProvider({ configPath, env, username: 'flag', password: 'flagpw' })('ghcr.io'),
      ).toEqual({ username: 'flag', password: 'flagpw' });
      expect(await createCredentialProvider({ configPath, env: {} })('ghcr.io')).toMatchObject({
        username: 'file',
        password: 'filepw',
      });
    } finally {
      await dir.cleanup();
    }
  });
});

describe('CLI with ORAS_REGISTRY_<HOST>_* against the htpasswd registry', () => {
  let root: string;
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  const T = 120_000;

  beforeAll(async () => {
    ensureBuilt();
    const t = await tempDir('oras-envcred-cli-');
    root = t.dir;
    cleanup = t.cleanup;
    await mkdir(join(root, 'docker'));
    env = { ...baseEnv(join(root, 'docker')), HOME: root };
    await writeFile(join(root, 'hello.txt'), 'hello from env credentials\n');
  });
  afterAll(async () => {
    await cleanup?.();
  });

  it(
    'pushes and pulls with credentials from the environment only; nothing written, nothing printed',
    async () => {
      const reg = registry('basic');
      const user = userOf(reg, 'push');
      const ref = `${reg.host}/${uniqueRepo('envcred')}:v1`;
      const anon = await runCli(['push', ref, 'hello.txt'], env, { cwd: root });
      expect(anon.code, show(anon)).not.toBe(0);

      const key = envKeyOf(reg.host);
      const withEnv = {
        ...env,
        [`ORAS_REGISTRY_${key}_USERNAME`]: user.username,
        [`ORAS_REGISTRY_${key}_PASSWORD`]: user.password,
      };
      const push = await runCli(['push', ref, 'hello.txt', '-d'], withEnv, { cwd: root });
      expect(push.code, show(push)).toBe(0);
      await mkdir(join(root, 'out'));
      const pull = await runCli(['pull', ref, '-o', 'out'], withEnv, { cwd: root });
      expect(pull.code, show(pull)).toBe(0);
      expect(existsSync(join(root, 'out', 'hello.txt'))).toBe(true);

      for (const r of [push, pull]) expect(r.stdout + r.stderr).not.toContain(user.password);
      expect(await readdir(join(root, 'docker'))).toEqual([]);
    },
    T,
  );
});
