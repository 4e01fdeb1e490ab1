import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DEFAULT_CONCURRENCY, defaultCacheDir, loadConfig } from '../../src/project/spec/config.js';
import { validateConfig } from '../../src/project/spec/validate.js';
import { trustConfigFile, weakeningSettings } from '../../src/project/spec/config-trust.js';

const repoRoot = join(import.meta.dirname, '..', '..');

describe('oras config', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oras-config-'));
    env = { HOME: join(dir, 'home'), XDG_CACHE_HOME: join(dir, 'xdg-cache') };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('oras.yaml.example documents every key and validates', async () => {
    const text = await readFile(join(repoRoot, 'oras.yaml.example'), 'utf8');
    const r = validateConfig(parse(text));
    expect(r.issues).toEqual([]);
    const schema = JSON.parse(await readFile(join(repoRoot, 'schemas', 'oras-config.schema.json'), 'utf8')) as {
      properties: Record<string, { properties?: Record<string, unknown> }>;
      definitions: { registry: { properties: Record<string, unknown> } };
    };
    const keys = [
      ...Object.keys(schema.properties),
      ...Object.values(schema.properties).flatMap((p) => Object.keys(p.properties ?? {})),
      ...Object.keys(schema.definitions.registry.properties),
    ];
    for (const k of keys) expect(text, `oras.yaml.example should mention ${k}`).toMatch(new RegExp(`^\\s*${k}:`, 'm'));
  });

  test('weakening settings: plain HTTP/insecure only for remote hosts, CA/client certs, credentials.configPath', () => {
    expect(
      weakeningSettings({
        registries: {
          'localhost:5000': { plainHttp: true, insecure: true },
          '127.0.0.1': { plainHttp: true },
          'reg.example': {
            plainHttp: true,
            insecure: true,
            caFile: 'ca.pem',
            certFile: 'c.pem',
            keyFile: 'k.pem',
            ociLayout: 'x',
            mirrors: ['m.example'],
            headers: { A: 'b' },
          },
          'other.example': { plainHttp: false, insecure: false, ociLayout: '../registry' },
          localhost: { caFile: 'ca.pem' },
        },
        cache: { dir: '../cache', link: 'copy' },
        concurrency: 4,
        credentials: { configPath: './docker.json' },
      }),
    ).toEqual([
      'registries["reg.example"].plainHttp',
      'registries["reg.example"].insecure',
      'registries["reg.example"].caFile',
      'registries["reg.example"].certFile',
      'registries["reg.example"].keyFile',
      'registries["localhost"].caFile',
      'credentials.configPath',
    ]);
  });

  test('a user-level config (in the home directory) needs no trust; a project one does', async () => {
    await mkdir(join(dir, 'home', 'proj'), { recursive: true });
    await writeFile(join(dir, 'home', '.orasrc.yaml'), 'registries:\n  reg.example:\n    plainHttp: true\n');
    const cfg = await loadConfig({ cwd: join(dir, 'home', 'proj'), stopDir: join(dir, 'home'), env });
    expect(cfg.registries['reg.example']).toEqual({ plainHttp: true });
    await writeFile(join(dir, 'home', 'proj', 'oras.yaml'), 'registries:\n  reg.example:\n    plainHttp: true\n');
    await expect(loadConfig({ cwd: join(dir, 'home', 'proj'), stopDir: join(dir, 'home'), env })).rejects.toMatchObject(
      { code: 'ERR_ORAS_UNTRUSTED_CONFIG' },
    );
    // Named explicitly (--config / ORAS_CONFIG): the user chose it.
    expect(
      (await loadConfig({ cwd: join(dir, 'home', 'proj'), explicitPath: 'oras.yaml', env })).registries['reg.example'],
    ).toEqual({ plainHttp: true });
  });

  test('no config file: defaults', async () => {
    const cfg = await loadConfig({ cwd: dir, stopDir: dir, env });
    expect(cfg).toEqual({
      registries: {},
      concurrency: DEFAULT_CONCURRENCY,
      cache: { dir: join(dir, 'xdg-cache', 'oras-ts'), link: 'auto' },
      credentials: {},
      limits: {},
    });
    expect(defaultCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/oras-ts');
  });

  test('found in a parent directory; relative paths resolve against the file; ~ expands', async () => {
    const sub = join(dir, 'a', 'b');
    await mkdir(sub, { recursive: true });
    await writeFile(
      join(dir, 'a', '.orasrc.yaml'),
      [
        'registries:',
        '  localhost:5000:',
        '    plainHttp: true',
        '  reg.example:8443:',
        '    caFile: certs/ca.pem',
        '    mirrors: [mirror.example]',
        'concurrency: 3',
        'cache:',
        '  dir: ~/my-cache',
        '  link: copy',
        'credentials:',
        '  configPath: ./docker.json',
        'limits:',
        '  maxEntries: 10',
        '',
      ].join('\n'),
    );
    // caFile and credentials.configPath weaken security: honoured once the file is trusted.
    await expect(loadConfig({ cwd: sub, stopDir: dir, env })).rejects.toMatchObject({
      code: 'ERR_ORAS_UNTRUSTED_CONFIG',
    });
    await trustConfigFile(join(dir, 'a', '.orasrc.yaml'), env);
    const cfg = await loadConfig({ cwd: sub, stopDir: dir, env });
    expect(cfg).toEqual({
      registries: {
        'localhost:5000': { plainHttp: true },
        'reg.example:8443': { caFile: join(dir, 'a', 'certs', 'ca.pem'), mirrors: ['mirror.example'] },
      },
      concurrency: 3,
      cache: { dir: join(dir, 'home', 'my-cache'), link: 'copy' },
      credentials: { configPath: join(dir, 'a', 'docker.json') },
      limits: { maxEntries: 10 },
      file: join(dir, 'a', '.orasrc.yaml'),
    });
  });

  test('validation issues with file:line:col and suggestions', async () => {
    await writeFile(
      join(dir, 'oras.yaml'),
      [
        'registries:',
        '  localhost:5000:',
        '    plainHtp: true',
        '    headers:',
        '      Authorization: 42',
        'cache:',
        '  link: hardlnk',
        'concurrency: 0',
        '',
      ].join('\n'),
    );
    const err = await loadConfig({ cwd: dir, stopDir: dir, env }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_CONFIG' });
    const msg = (err as Error).message;
    expect(msg).toContain(
      "oras.yaml:3:5: registries.localhost:5000.plainHtp: unknown key 'plainHtp'; did you mean 'plainHttp'?".replace(
        'registries.localhost:5000',
        'registries["localhost:5000"]',
      ),
    );
    expect(msg).toContain(
      'oras.yaml:5:22: registries["localhost:5000"].headers.Authorization: must be a string, not a number',
    );
    expect(msg).toContain(
      "oras.yaml:7:9: cache.link: must be one of auto, reflink, hardlink, copy; did you mean 'hardlink'?",
    );
    expect(msg).toContain('oras.yaml:8:14: concurrency: must be >= 1');
    expect(msg).not.toContain('42');
  });

  test('explicit path; missing explicit path; JS configs refused; package.json "oras" key', async () => {
    await writeFile(join(dir, 'custom.json'), JSON.stringify({ concurrency: 2 }));
    expect((await loadConfig({ cwd: dir, explicitPath: 'custom.json', env })).concurrency).toBe(2);
    await expect(loadConfig({ cwd: dir, explicitPath: 'nope.yaml', env })).rejects.toMatchObject({
      code: 'ERR_ORAS_CONFIG',
      message: expect.stringContaining('does not exist'),
    });
    await writeFile(join(dir, 'oras.config.js'), 'throw new Error("must not run")');
    await expect(loadConfig({ cwd: dir, explicitPath: 'oras.config.js', env })).rejects.toMatchObject({
      code: 'ERR_ORAS_CONFIG',
      message: expect.stringContaining('not supported'),
    });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x', oras: { concurrency: 5 } }, null, 2));
    expect((await loadConfig({ cwd: dir, stopDir: dir, env })).concurrency).toBe(5);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x', oras: { concurency: 5 } }, null, 2));
    await expect(loadConfig({ cwd: dir, stopDir: dir, env })).rejects.toThrow(
      /package\.json:4:5: concurency: unknown key 'concurency'; did you mean 'concurrency'\?/,
    );
  });

  test('semantic checks: certFile without keyFile, bad host key, syntax errors', async () => {
    expect(validateConfig({ registries: { 'r.example': { certFile: 'c.pem' } } }).issues).toEqual([
      expect.objectContaining({
        path: 'registries["r.example"].certFile',
        message: 'certFile and keyFile must be given together',
      }),
    ]);
    expect(validateConfig({ registries: { 'http://r.example': {} } }).issues[0]?.message).toMatch(
      /invalid registry host "http:\/\/r\.example"/,
    );
    await writeFile(join(dir, 'oras.yaml'), 'registries: [\n');
    await expect(loadConfig({ cwd: dir, stopDir: dir, env })).rejects.toMatchObject({ code: 'ERR_ORAS_CONFIG' });
  });
});
