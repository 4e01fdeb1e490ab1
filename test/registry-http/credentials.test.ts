import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialFromAuthEntry,
  credentialFromConfig,
  defaultDockerConfigPath,
  findAuthEntry,
  helperFor,
  parseDockerConfig,
  readDockerConfig,
} from '../../src/registry/credentials/docker-config.js';
import { helperErase, helperGet, helperList, helperStore } from '../../src/registry/credentials/helper.js';
import { DOCKER_HUB_KEY, normalizeRegistryKey, storeKey } from '../../src/registry/credentials/keys.js';
import { createCredentialProvider } from '../../src/registry/credentials/provider.js';
import { removeCredential, saveCredential } from '../../src/registry/credentials/store.js';

let dir: string;
let binDir: string;
let env: NodeJS.ProcessEnv;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A working helper backed by a JSON file next to it (docker-credential-helpers protocol). */
const GOOD_HELPER = `#!${process.execPath}
const fs = require('fs'); const path = require('path');
const file = path.join(__dirname, 'helper-store.json');
const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
const save = () => fs.writeFileSync(file, JSON.stringify(db));
let input = ''; process.stdin.on('data', (d) => input += d); process.stdin.on('end', () => {
  const action = process.argv[2];
  if (action === 'get') {
    const e = db[input.trim()];
    if (!e) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: e.Username, Secret: e.Secret }));
  } else if (action === 'store') {
    const j = JSON.parse(input); db[j.ServerURL] = { Username: j.Username, Secret: j.Secret }; save();
  } else if (action === 'erase') {
    if (!db[input.trim()]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    delete db[input.trim()]; save();
  } else if (action === 'list') {
    const out = {}; for (const [k, v] of Object.entries(db)) out[k] = v.Username; process.stdout.write(JSON.stringify(out));
  } else { process.exit(2); }
});
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-cred-'));
  binDir = join(dir, 'bin');
  await mkdir(binDir);
  const helpers: Record<string, string> = {
    test: GOOD_HELPER,
    hang: '#!/bin/sh\nexec sleep 30\n',
    garbage: '#!/bin/sh\ncat >/dev/null\necho "this is {not json"\n',
    broken: '#!/bin/sh\ncat >/dev/null\necho "keychain locked" >&2\nexit 3\n',
  };
  for (const [name, text] of Object.entries(helpers)) {
    const p = join(binDir, `docker-credential-${name}`);
    await writeFile(p, text);
    await chmod(p, 0o755);
  }
  env = { ...process.env, PATH: `${binDir}${delimiter}${process.env['PATH'] ?? ''}` };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keys', () => {
  it('normalizes docker hub aliases and schemes', () => {
    for (const k of [
      'docker.io',
      'registry-1.docker.io',
      'index.docker.io',
      DOCKER_HUB_KEY,
      'https://registry-1.docker.io/v2/',
    ])
      expect(normalizeRegistryKey(k)).toBe('docker.io');
    expect(normalizeRegistryKey('https://Ghcr.io/')).toBe('ghcr.io');
    expect(normalizeRegistryKey('localhost:5000')).toBe('localhost:5000');
    expect(storeKey('registry-1.docker.io')).toBe(DOCKER_HUB_KEY);
    expect(storeKey('ghcr.io')).toBe('ghcr.io');
  });
});

describe('config.json parsing', () => {
  const cfg = parseDockerConfig(
    JSON.stringify({
      auths: {
        [DOCKER_HUB_KEY]: { auth: b64('hubuser:hub:pass') },
        'https://ghcr.io': { auth: b64('gh:tok') },
        'localhost:5000': { identitytoken: 'refresh-abc' },
        'empty.example.com': {},
      },
      credHelpers: { 'ecr.example.com': 'test' },
      other: { keep: true },
    }),
  );
  it('finds auths entries by normalized key and decodes auth', () => {
    expect(credentialFromAuthEntry(findAuthEntry(cfg, 'registry-1.docker.io')!.entry)).toEqual({
      username: 'hubuser',
      password: 'hub:pass',
    });
    expect(credentialFromAuthEntry(findAuthEntry(cfg, 'docker.io')!.entry)).toEqual({
      username: 'hubuser',
      password: 'hub:pass',
    });
    expect(credentialFromAuthEntry(findAuthEntry(cfg, 'ghcr.io')!.entry)).toEqual({ username: 'gh', password: 'tok' });
    expect(credentialFromAuthEntry(findAuthEntry(cfg, 'localhost:5000')!.entry)).toEqual({
      identityToken: 'refresh-abc',
    });
    expect(credentialFromAuthEntry(findAuthEntry(cfg, 'empty.example.com')!.entry)).toBeUndefined();
    expect(findAuthEntry(cfg, 'nope.example.com')).toBeUndefined();
    expect(helperFor(cfg, 'ecr.example.com')).toBe('test');
    expect(helperFor(cfg, 'ghcr.io')).toBeUndefined();
    expect(helperFor({ ...cfg, credsStore: 'desktop' }, 'ghcr.io')).toBe('desktop');
  });
  it('rejects malformed files and auth values without quoting secrets', () => {
    expect(() => parseDockerConfig('{"auths": [1]}')).toThrow(expect.objectContaining({ code: 'ERR_ORAS_CONFIG' }));
    expect(() => parseDockerConfig('{not json secret-canary')).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_CONFIG' }),
    );
    try {
      parseDockerConfig('{not json secret-canary');
    } catch (e) {
      expect((e as Error).message).not.toContain('secret-canary');
    }
    expect(() => credentialFromAuthEntry({ auth: b64('nocolon') })).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_CONFIG' }),
    );
    expect(parseDockerConfig('')).toEqual({});
  });
  it('default path honours DOCKER_CONFIG', () => {
    expect(defaultDockerConfigPath({ DOCKER_CONFIG: '/x/y' })).toBe('/x/y/config.json');
    expect(defaultDockerConfigPath({ HOME: '/home/u' })).toBe('/home/u/.docker/config.json');
  });
  it('a missing file reads as undefined', async () => {
    expect(await readDockerConfig(join(dir, 'missing', 'config.json'))).toBeUndefined();
  });
});

describe('credential helper protocol', () => {
  it('stores, gets, lists and erases with a good helper', async () => {
    await helperStore('test', 'reg.example.com', { username: 'u1', password: 'p1' }, { env });
    await helperStore('test', 'tok.example.com', { identityToken: 'idtok' }, { env });
    expect(await helperGet('test', 'reg.example.com', { env })).toEqual({ username: 'u1', password: 'p1' });
    expect(await helperGet('test', 'tok.example.com', { env })).toEqual({ identityToken: 'idtok' });
    expect(await helperGet('test', 'unknown.example.com', { env })).toBeUndefined();
    expect(await helperList('test', { env })).toMatchObject({ 'reg.example.com': 'u1', 'tok.example.com': '<token>' });
    await helperErase('test', 'tok.example.com', { env });
    await helperErase('test', 'tok.example.com', { env }); // not found is fine
    expect(await helperGet('test', 'tok.example.com', { env })).toBeUndefined();
  });
  it('times out a hanging helper', async () => {
    await expect(helperGet('hang', 'x', { env, timeoutMs: 300 })).rejects.toMatchObject({
      code: 'ERR_ORAS_CREDENTIAL_HELPER',
      message: expect.stringMatching(/timed out/),
    });
  });
  it('rejects garbage output', async () => {
    await expect(helperGet('garbage', 'x', { env })).rejects.toMatchObject({
      code: 'ERR_ORAS_CREDENTIAL_HELPER',
      message: expect.stringMatching(/not JSON/),
    });
  });
  it('reports a non-zero exit', async () => {
    await expect(helperGet('broken', 'x', { env })).rejects.toMatchObject({
      code: 'ERR_ORAS_CREDENTIAL_HELPER',
      message: expect.stringMatching(/code 3: keychain locked/),
    });
  });
  it('reports a missing helper', async () => {
    await expect(helperGet('missing-xyz', 'x', { env })).rejects.toMatchObject({
      code: 'ERR_ORAS_CREDENTIAL_HELPER',
      message: expect.stringMatching(/not found on PATH/),
    });
  });
  it('refuses helper names that could escape the docker-credential- prefix', async () => {
    await expect(helperGet('../../bin/sh', 'x', { env })).rejects.toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
  });
});

describe('saveCredential / removeCredential / provider', () => {
  it('writes auths atomically with mode 0600, keeps unknown keys, replaces alias keys', async () => {
    const d = join(dir, 'file-store');
    await mkdir(d);
    const path = join(d, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth: b64('old:old') }, 'docker.io': { auth: b64('old2:old2') } },
        psFormat: 'table',
        proxies: { x: 1 },
      }),
    );
    const loc = await saveCredential(
      'registry-1.docker.io',
      { username: 'alice', password: 's3cr:et' },
      { configPath: path, env },
    );
    expect(loc).toEqual({ kind: 'file', path });
    const cfg = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(cfg).toEqual({
      auths: { [DOCKER_HUB_KEY]: { auth: b64('alice:s3cr:et') } },
      psFormat: 'table',
      proxies: { x: 1 },
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const provider = createCredentialProvider({ configPath: path, env });
    expect(await provider('docker.io')).toEqual({ username: 'alice', password: 's3cr:et' });
    expect(await provider('ghcr.io')).toBeUndefined();
    await saveCredential('localhost:5000', { identityToken: 'refresh' }, { configPath: path, env });
    expect(await provider('localhost:5000')).toEqual({ identityToken: 'refresh' });
    expect(await removeCredential('docker.io', { configPath: path, env })).toBe(true);
    expect(await removeCredential('docker.io', { configPath: path, env })).toBe(false);
    expect(await provider('registry-1.docker.io')).toBeUndefined();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      auths: { 'localhost:5000': { identitytoken: 'refresh' } },
      psFormat: 'table',
      proxies: { x: 1 },
    });
  });
  it('creates a missing config and directory', async () => {
    const path = join(dir, 'new-dir', 'sub', 'config.json');
    await saveCredential('r.example.com', { username: 'u', password: 'p' }, { configPath: path, env });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ auths: { 'r.example.com': { auth: b64('u:p') } } });
  });
  it('writes through a symlinked config.json to its target and keeps the link', async () => {
    const d = join(dir, 'linked');
    await mkdir(join(d, 'real'), { recursive: true });
    await writeFile(join(d, 'real', 'docker.json'), '{"auths":{}}');
    const link = join(d, 'config.json');
    await symlink(join('real', 'docker.json'), link);
    await saveCredential('r.example.com', { username: 'u', password: 'p' }, { configPath: link, env });
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(join('real', 'docker.json'));
    expect(JSON.parse(await readFile(join(d, 'real', 'docker.json'), 'utf8'))).toEqual({
      auths: { 'r.example.com': { auth: b64('u:p') } },
    });
  });
  it('stores in the configured helper and leaves the file alone', async () => {
    const path = join(dir, 'helper-config.json');
    const text = JSON.stringify({ auths: {}, credHelpers: { 'helped.example.com': 'test' } });
    await writeFile(path, text);
    expect(
      await saveCredential('helped.example.com', { username: 'hu', password: 'hp' }, { configPath: path, env }),
    ).toEqual({ kind: 'helper', helper: 'test' });
    expect(await readFile(path, 'utf8')).toBe(text);
    const provider = createCredentialProvider({ configPath: path, env });
    expect(await provider('helped.example.com')).toEqual({ username: 'hu', password: 'hp' });
    expect(await removeCredential('helped.example.com', { configPath: path, env })).toBe(true);
    expect(await provider('helped.example.com')).toBeUndefined();
    // a credsStore that hangs surfaces as a helper error through the provider
    await writeFile(path, JSON.stringify({ credsStore: 'hang' }));
    await expect(
      createCredentialProvider({ configPath: path, env, timeoutMs: 200 })('x.example.com'),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
  });
  it('explicit options win, optionally only for one registry', async () => {
    const path = join(dir, 'explicit.json');
    await writeFile(path, JSON.stringify({ auths: { 'a.example.com': { auth: b64('file:file') } } }));
    expect(await createCredentialProvider({ configPath: path, username: 'x', password: 'y' })('a.example.com')).toEqual(
      { username: 'x', password: 'y' },
    );
    const scoped = createCredentialProvider({
      configPath: path,
      username: 'x',
      password: 'y',
      registry: 'b.example.com',
    });
    expect(await scoped('a.example.com')).toEqual({ username: 'file', password: 'file' });
    expect(await scoped('b.example.com')).toEqual({ username: 'x', password: 'y' });
    expect(await createCredentialProvider({ configPath: path, noConfig: true })('a.example.com')).toBeUndefined();
  });
  it('credentialFromConfig falls back to auths when the helper has nothing', async () => {
    const cfg = { credsStore: 'test', auths: { 'fb.example.com': { auth: b64('fb:pw') } } };
    expect(await credentialFromConfig(cfg, 'fb.example.com', { env })).toEqual({ username: 'fb', password: 'pw' });
  });
});
