/**
 * Issue 10 items 3 and 4, attacked through the built CLI against the harness
 * registries: a committed / forged / copied `.oras/state.json` never makes a
 * (frozen) install remove anything; a project config file cannot weaken TLS
 * or hand out credentials (plain HTTP for a remote host, caFile, a
 * credentials.configPath whose credsStore runs a helper the repository ships)
 * until `oras trust`, and again after a change; `oras login` never writes
 * into the project. HOME and XDG_* point into a temp dir: nothing touches the
 * real user config.
 */
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry, uniqueRepo, userOf } from '../harness/context.js';
import { readState, writeState } from '../../src/project/apply/state.js';
import { baseEnv, ensureBuilt, runCli, show, tempDir, type CliResult } from './helpers.js';

let root: string;
let env: Record<string, string>;
let cleanup: () => Promise<void>;
const T = 180_000;

function oras(
  args: string[],
  cwd: string,
  extra: Record<string, string | undefined> = {},
  input?: string,
): Promise<CliResult> {
  return runCli(args, { ...env, ...extra }, { cwd, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[], cwd: string, extra: Record<string, string | undefined> = {}): Promise<CliResult> {
  const r = await oras(args, cwd, extra);
  expect(r.code, show(r)).toBe(0);
  return r;
}

const sha256 = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** Files of a "repository checkout" an attacker would like deleted. */
const VICTIMS: Record<string, string> = {
  'README.md': '# project\n',
  '.git/config': '[core]\n\tbare = false\n',
  '.github/workflows/ci.yml': 'on: push\njobs: {}\n',
};

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
}

async function expectIntact(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) expect(await readFile(join(dir, rel), 'utf8'), rel).toBe(text);
}

/** A state file in the format every version understood (no MAC) recording `files` as installed by `dependency`. */
function forgedState(files: Record<string, string>, dependency: string): string {
  const records: Record<string, unknown> = {};
  for (const [path, text] of Object.entries(files)) {
    records[path] = { path, digest: sha256(text), size: Buffer.byteLength(text), mtimeMs: 0, ino: 0, dependency };
  }
  return `${JSON.stringify({ stateVersion: 1, roots: { [dependency]: [''] }, files: records }, null, 2)}\n`;
}

/** Pushes one small file to the plain registry and returns `registry/repo:1.0.0`. */
async function publishData(name: string): Promise<string> {
  const src = join(root, `src-${name}`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'data.txt'), 'payload\n');
  const ref = `${registry('plain').host}/${uniqueRepo(`trust/${name}`)}:1.0.0`;
  await ok(['push', ref, 'data.txt'], src);
  return ref;
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-cli-trust-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  env = {
    ...baseEnv(join(root, 'docker')),
    HOME: root,
    XDG_CACHE_HOME: join(root, 'cache'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_STATE_HOME: join(root, 'state'),
    CI: '',
  };
});

afterAll(async () => {
  await cleanup?.();
});

describe('.oras/state.json is a local cache, never an authority', () => {
  it(
    'a committed/forged state listing README.md, .git/config and ci.yml: a frozen install ignores it and touches nothing outside the dependency path',
    async () => {
      const ref = await publishData('forged');
      const project = join(root, 'forged');
      await writeFiles(project, {
        ...VICTIMS,
        'artifacts.yaml': `dependencies:\n  data:\n    ref: ${ref}\n    path: vendor/data\n`,
      });
      await ok(['install'], project);
      expect(await readFile(join(project, '.oras', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
      // A fresh CI checkout: no .oras, but the pull request committed one.
      await rm(join(project, '.oras'), { recursive: true });
      await rm(join(project, 'vendor'), { recursive: true });
      await mkdir(join(project, '.oras'));
      await writeFile(
        join(project, '.oras', 'state.json'),
        forgedState({ ...VICTIMS, 'artifacts.yaml': await readFile(join(project, 'artifacts.yaml'), 'utf8') }, 'data'),
      );
      const r = await ok(['install', '--frozen-lockfile'], project, { CI: 'true' });
      expect(r.stderr).toMatch(/ignored \.oras\/state\.json/);
      await expectIntact(project, VICTIMS);
      expect(await readFile(join(project, 'artifacts.yaml'), 'utf8')).toContain(ref);
      expect(await readFile(join(project, 'vendor', 'data', 'data.txt'), 'utf8')).toBe('payload\n');

      // The same forgery with a made-up MAC, and with --force: still ignored, still nothing removed.
      const text = await readFile(join(project, '.oras', 'state.json'), 'utf8');
      const forged = JSON.parse(text) as { files: Record<string, unknown> };
      forged.files = {
        ...forged.files,
        ...(JSON.parse(forgedState(VICTIMS, 'data')) as { files: Record<string, unknown> }).files,
      };
      await writeFile(
        join(project, '.oras', 'state.json'),
        `{\n  "mac": "hmac-sha256:${'ab'.repeat(32)}",\n${JSON.stringify(forged, null, 2).slice(2)}`,
      );
      await writeFile(join(project, 'artifacts.yaml'), 'dependencies: {}\n');
      const r2 = await ok(['install', '--force'], project);
      expect(r2.stderr).toMatch(/ignored \.oras\/state\.json/);
      await expectIntact(project, VICTIMS);
      // Nothing is recorded any more, so the formerly installed file is left in place (never removed blindly).
      expect(await readFile(join(project, 'vendor', 'data', 'data.txt'), 'utf8')).toBe('payload\n');
    },
    T,
  );

  it(
    'a state copied from another project (or checkout) is ignored: a user file there is never removed',
    async () => {
      const ref = await publishData('copied');
      const a = join(root, 'copied-a');
      const b = join(root, 'copied-b');
      await writeFiles(a, { 'artifacts.yaml': `dependencies:\n  data:\n    ref: ${ref}\n    path: vendor/data\n` });
      await ok(['install'], a);
      // B vendored the same file by hand and declares no dependencies; A's (valid for A) state is copied in.
      await writeFiles(b, { 'artifacts.yaml': 'dependencies: {}\n', 'vendor/data/data.txt': 'payload\n', ...VICTIMS });
      await mkdir(join(b, '.oras'));
      await cp(join(a, '.oras', 'state.json'), join(b, '.oras', 'state.json'));
      const r = await ok(['install'], b);
      expect(r.stderr).toMatch(/ignored \.oras\/state\.json: not written on this machine/);
      expect(await readFile(join(b, 'vendor', 'data', 'data.txt'), 'utf8')).toBe('payload\n');
      await expectIntact(b, VICTIMS);
      // A's own state is still valid for A: removing the dependency there removes exactly its file.
      await writeFile(join(a, 'artifacts.yaml'), 'dependencies: {}\n');
      await ok(['install'], a);
      await expect(stat(join(a, 'vendor', 'data', 'data.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    },
    T,
  );

  it(
    'even a state signed on this machine never removes protected paths or files outside the dependency path',
    async () => {
      const ref = await publishData('signed');
      const project = join(root, 'signed');
      await writeFiles(project, {
        ...VICTIMS,
        'artifacts.yaml': `dependencies:\n  data:\n    ref: ${ref}\n    path: vendor/data\n`,
      });
      await ok(['install'], project);
      const stateEnv = { ...process.env, XDG_STATE_HOME: env.XDG_STATE_HOME, HOME: root };
      const state = await readState(project, { env: stateEnv });
      expect(state.roots).toEqual({ data: ['vendor/data'] });
      for (const [path, text] of Object.entries(VICTIMS)) {
        state.files[path] = {
          path,
          digest: sha256(text),
          size: Buffer.byteLength(text),
          mtimeMs: 0,
          ino: 0,
          dependency: 'data',
        };
      }
      // Signed with this user's key (as a buggy writer could have done).
      await writeState(project, state, { env: stateEnv });
      const events: string[] = [];
      const reread = await readState(project, {
        env: stateEnv,
        onEvent: (e) => {
          if (e.type === 'state-ignored') events.push(e.reason);
        },
      });
      expect(Object.keys(reread.files)).toEqual(['vendor/data/data.txt']);
      expect(events).toEqual([expect.stringMatching(/3 record/)]);
      await writeFile(join(project, 'artifacts.yaml'), 'dependencies: {}\n');
      await ok(['install', '--force'], project);
      await expectIntact(project, VICTIMS);
      await expect(stat(join(project, 'vendor', 'data', 'data.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    },
    T,
  );
});

describe('project config files need `oras trust` for weakening settings', () => {
  it(
    'plainHttp for a non-loopback host: refused (file, setting, fix) until trusted; a changed file is refused again; --list/--revoke',
    async () => {
      const project = join(root, 'plain-http');
      await mkdir(project);
      const cfg = 'registries:\n  registry.example.test:\n    plainHttp: true\n';
      await writeFile(join(project, 'oras.yaml'), cfg);
      const refused = await oras(['resolve', 'registry.example.test/app:1'], project);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stderr).toMatch(/oras\.yaml.*registries\["registry\.example\.test"\]\.plainHttp/);
      expect(refused.stderr).toMatch(/^Hint: .*oras trust oras\.yaml/m);
      expect(refused.stderr).not.toMatch(/\n\s+at /);

      const trusted = await ok(['trust'], project);
      expect(trusted.stdout).toMatch(/Trusted .*oras\.yaml/);
      expect(trusted.stdout).toContain('registries["registry.example.test"].plainHttp');
      // Honoured now: the request goes out over plain HTTP (and fails: there is no such host).
      const honoured = await oras(['resolve', 'registry.example.test/app:1', '--debug'], project);
      expect(honoured.code, show(honoured)).not.toBe(0);
      expect(honoured.stderr).not.toMatch(/not trusted/);
      expect(honoured.stderr).toMatch(/http:\/\/registry\.example\.test/);

      const list = JSON.parse((await ok(['trust', '--list', '--format', 'json'], project)).stdout) as {
        trusted: { path: string }[];
        store: string;
      };
      expect(list.trusted.map((t) => t.path)).toContain(join(project, 'oras.yaml'));
      expect(list.store.startsWith(join(root, 'config'))).toBe(true);
      expect(await readdir(project)).toEqual(['oras.yaml']);

      await writeFile(join(project, 'oras.yaml'), `${cfg}concurrency: 2\n`);
      const changed = await oras(['resolve', 'registry.example.test/app:1'], project);
      expect(changed.code, show(changed)).toBe(1);
      expect(changed.stderr).toMatch(/changed since it was trusted/);
      await ok(['trust', 'oras.yaml'], project);
      await ok(['trust', '--revoke'], project);
      const revoked = await oras(['resolve', 'registry.example.test/app:1'], project);
      expect(revoked.stderr).toMatch(/is not trusted/);
      // Loopback plain HTTP and ociLayout need no trust.
      await writeFile(
        join(project, 'oras.yaml'),
        `registries:\n  localhost:5000:\n    plainHttp: true\n  example.oras.local:\n    ociLayout: ./layouts\n`,
      );
      const layout = await oras(['resolve', 'example.oras.local/app:1'], project);
      expect(layout.stderr).not.toMatch(/not trusted|oras trust/);
    },
    T,
  );

  it(
    'caFile in a project config: refused until trusted, then the TLS registry is reachable with it',
    async () => {
      const tls = registry('tls');
      const src = join(root, 'tls-src');
      await mkdir(src);
      await writeFile(join(src, 'a.txt'), 'alpha\n');
      const ref = `${tls.host}/${uniqueRepo('trust/tls')}:v1`;
      await ok(['push', ref, 'a.txt', '--ca-file', tls.caFile!], src);
      const project = join(root, 'tls-project');
      await mkdir(project);
      await cp(tls.caFile!, join(project, 'ca.pem'));
      await writeFile(join(project, 'oras.yaml'), `registries:\n  "${tls.host}":\n    caFile: ca.pem\n`);
      const refused = await oras(['resolve', ref], project);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stderr).toMatch(/\.caFile/);
      await ok(['trust', 'oras.yaml'], project);
      expect((await ok(['resolve', ref], project)).stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    },
    T,
  );

  it(
    'credentials.configPath naming a credsStore helper the repository ships: never run until trusted',
    async () => {
      const basic = registry('basic');
      const user = userOf(basic, 'push');
      const src = join(root, 'helper-src');
      await mkdir(src);
      await writeFile(join(src, 'a.txt'), 'alpha\n');
      const ref = `${basic.host}/${uniqueRepo('trust/helper')}:v1`;
      await ok(['push', ref, 'a.txt', '-u', user.username, '-p', user.password], src);

      const project = join(root, 'helper-project');
      const marker = join(root, 'helper-ran');
      await writeFiles(project, {
        'oras.yaml': 'credentials:\n  configPath: ./docker/config.json\n',
        'docker/config.json': '{"credsStore":"evil"}\n',
        'node_modules/.bin/docker-credential-evil': `#!/bin/sh\necho ran >> ${JSON.stringify(marker)}\necho '{"Username":"${user.username}","Secret":"${user.password}"}'\n`,
      });
      await chmod(join(project, 'node_modules/.bin/docker-credential-evil'), 0o755);
      const path = { PATH: `${join(project, 'node_modules', '.bin')}:${env.PATH ?? ''}` };
      const refused = await oras(['resolve', ref], project, path);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stderr).toMatch(/credentials\.configPath/);
      await expect(stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });

      await ok(['trust'], project);
      expect((await ok(['resolve', ref], project, path)).stdout.trim()).toMatch(/^sha256:/);
      expect(await readFile(marker, 'utf8')).toContain('ran');
    },
    T,
  );
});

describe('oras login never writes into a project unless told to', () => {
  it(
    'a project-configured configPath is refused (also after trust); --registry-config writes where named; DOCKER_CONFIG inside the checkout is refused',
    async () => {
      const basic = registry('basic');
      const user = userOf(basic, 'push');
      const project = join(root, 'login-project');
      await writeFiles(project, {
        'oras.yaml': 'credentials:\n  configPath: ./.docker/config.json\n',
        '.git/HEAD': 'ref: refs/heads/main\n',
      });
      const before = await readdir(project);
      const login = (extra: string[] = [], e: Record<string, string> = {}): Promise<CliResult> =>
        oras(
          ['login', basic.host, '-u', user.username, '--password-stdin', ...extra],
          project,
          e,
          `${user.password}\n`,
        );
      const untrusted = await login();
      expect(untrusted.code, show(untrusted)).not.toBe(0);
      await ok(['trust'], project);
      const refused = await login();
      expect(refused.code, show(refused)).toBe(2);
      expect(refused.stderr).toMatch(
        /refusing to store credentials in .*\.docker\/config\.json: the path comes from the project config/,
      );
      expect(refused.stderr).toMatch(/^Hint: .*--registry-config/m);
      expect(await readdir(project)).toEqual(before);

      const chosen = join(root, 'login-docker', 'config.json');
      const stored = await login(['--registry-config', chosen]);
      expect(stored.code, show(stored)).toBe(0);
      expect(await readFile(chosen, 'utf8')).toContain(basic.host);
      expect(await readdir(project)).toEqual(before);

      await writeFile(join(project, 'oras.yaml'), 'concurrency: 2\n');
      const viaEnv = await login([], { DOCKER_CONFIG: join(project, 'ci-docker') });
      expect(viaEnv.code, show(viaEnv)).toBe(2);
      expect(viaEnv.stderr).toMatch(/inside the project\/checkout/);
      expect(await readdir(project)).toEqual(before);
    },
    T,
  );
});
