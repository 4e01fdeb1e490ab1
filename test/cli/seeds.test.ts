/**
 * Runs every `oras …` command of /work/shared/seeds/ (the ORAS documents this
 * project grew from) with the BUILT CLI against real registries, replacing
 * only the registry address (`localhost:5000`, docker.io, ECR, quay.io) by
 * private docker-registry 2.8.2 instances started for this file, so the
 * seeds' repository names (hello-artifact, ocitest, …) can be used as written.
 * The Quay section and `oras pull -u username -p password` run against the
 * basic-auth registry.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { baseEnv, CLI, ensureBuilt, runCli, show, tempDir, type CliResult } from './helpers.js';

let plain: RunningRegistry;
let basic: RunningRegistry;
let work: string;
let env: Record<string, string>;
const cleanups: (() => Promise<void>)[] = [];
const T = 180_000;

async function oras(args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  return runCli(args, env, {
    cwd: options.cwd ?? work,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

async function ok(args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  const r = await oras(args, options);
  expect(r.code, show(r)).toBe(0);
  return r;
}

interface Manifest {
  config: { mediaType: string; size: number; digest: string };
  layers: { mediaType: string; size: number; annotations?: Record<string, string> }[];
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-seeds-');
  cleanups.push(t.cleanup);
  work = join(t.dir, 'work');
  await mkdir(join(t.dir, 'docker'), { recursive: true });
  await mkdir(work, { recursive: true });
  env = { ...baseEnv(join(t.dir, 'docker')), HOME: t.dir };
  [plain, basic] = await Promise.all([
    startRegistry({ mode: 'plain', baseDir: t.dir }),
    startRegistry({ mode: 'basic', baseDir: t.dir }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([plain?.stop(), basic?.stop()]);
  for (const c of cleanups.reverse()) await c();
});

describe('seeds: oras 0.8 README (localhost:5000 → private registry)', () => {
  it(
    'push with --manifest-config /dev/null:<type> ./artifact.txt, then pull restores the file',
    async () => {
      const REG = plain.host;
      await writeFile(join(work, 'artifact.txt'), 'hello world\n');
      const push = await ok([
        'push',
        `${REG}/hello-artifact:v1`,
        '--manifest-config',
        '/dev/null:application/vnd.acme.rocket.config.v1+json',
        './artifact.txt',
      ]);
      expect(push.stdout).toContain(`Pushed [registry] ${REG}/hello-artifact:v1`);
      expect(push.stdout).toMatch(/Digest: sha256:[a-f0-9]{64}/);

      await rm(join(work, 'artifact.txt'));
      const pull = await ok(['pull', `${REG}/hello-artifact:v1`]);
      expect(pull.stdout).toContain(`Pulled [registry] ${REG}/hello-artifact:v1`);
      expect(await readFile(join(work, 'artifact.txt'), 'utf8')).toBe('hello world\n');

      const m = JSON.parse((await ok(['manifest', 'fetch', `${REG}/hello-artifact:v1`])).stdout) as Manifest;
      expect(m.config).toMatchObject({ mediaType: 'application/vnd.acme.rocket.config.v1+json', size: 0 });
    },
    T,
  );

  it(
    'push a custom layer media type: artifact.txt:application/vnd.acme.rocket.layer.v1+txt',
    async () => {
      const REG = plain.host;
      await ok([
        'push',
        `${REG}/hello-artifact:v2`,
        '--manifest-config',
        '/dev/null:application/vnd.acme.rocket.config.v1+json',
        'artifact.txt:application/vnd.acme.rocket.layer.v1+txt',
      ]);
      const m = JSON.parse((await ok(['manifest', 'fetch', `${REG}/hello-artifact:v2`])).stdout) as Manifest;
      expect(m.layers).toHaveLength(1);
      expect(m.layers[0]).toMatchObject({ mediaType: 'application/vnd.acme.rocket.layer.v1+txt', size: 12 });
      expect(m.layers[0]?.annotations?.['org.opencontainers.image.title']).toBe('artifact.txt');
    },
    T,
  );

  it(
    'push with a config file, then with multiple files, and pull -a gets them all',
    async () => {
      const REG = plain.host;
      await writeFile(join(work, 'config.json'), '{"name":"foo","value":"bar"}\n');
      await ok([
        'push',
        `${REG}/hello-artifact:v2`,
        '--manifest-config',
        'config.json:application/vnd.acme.rocket.config.v1+json',
        'artifact.txt:application/vnd.acme.rocket.layer.v1+txt',
      ]);
      let m = JSON.parse((await ok(['manifest', 'fetch', `${REG}/hello-artifact:v2`])).stdout) as Manifest;
      expect(m.config).toMatchObject({ mediaType: 'application/vnd.acme.rocket.config.v1+json', size: 29 });

      await writeFile(join(work, 'readme.md'), 'Docs on this artifact\n');
      await writeFile(join(work, 'config.json'), '{"doc":"readme.md"}\n');
      await ok([
        'push',
        `${REG}/hello-artifact:v2`,
        '--manifest-config',
        'config.json:application/vnd.acme.rocket.config.v1+json',
        'artifact.txt:application/vnd.acme.rocket.layer.v1+txt',
        'readme.md:application/vnd.acme.rocket.docs.layer.v1+json',
      ]);
      m = JSON.parse((await ok(['manifest', 'fetch', `${REG}/hello-artifact:v2`])).stdout) as Manifest;
      expect(m.layers.map((l) => l.mediaType)).toEqual([
        'application/vnd.acme.rocket.layer.v1+txt',
        'application/vnd.acme.rocket.docs.layer.v1+json',
      ]);
      const cfg = (await ok(['manifest', 'fetch-config', `${REG}/hello-artifact:v2`])).stdout;
      expect(cfg).toBe('{"doc":"readme.md"}\n');

      const out = join(work, 'pull-v2');
      await mkdir(out);
      await ok(['pull', `${REG}/hello-artifact:v2`, '-a'], { cwd: out });
      expect(await readFile(join(out, 'artifact.txt'), 'utf8')).toBe('hello world\n');
      expect(await readFile(join(out, 'readme.md'), 'utf8')).toBe('Docs on this artifact\n');
    },
    T,
  );

  it(
    'oras pull -u username -p password REG/myimage:latest (basic-auth registry) works and warns about -p',
    async () => {
      const REG = basic.host;
      const user = basic.users[0]!;
      const dir = join(work, 'myimage');
      await mkdir(dir);
      await writeFile(join(dir, 'image.txt'), 'my image\n');
      await ok(['push', `${REG}/myimage:latest`, 'image.txt', '-u', user.username, '--password-stdin'], {
        cwd: dir,
        input: `${user.password}\n`,
      });
      await rm(join(dir, 'image.txt'));
      const pull = await ok(['pull', '-u', user.username, '-p', user.password, `${REG}/myimage:latest`], { cwd: dir });
      expect(await readFile(join(dir, 'image.txt'), 'utf8')).toBe('my image\n');
      expect(pull.stderr).toMatch(/insecure.*--password-stdin/);
      expect(pull.stderr).not.toContain(user.password);
    },
    T,
  );

  it(
    'oras version',
    async () => {
      const r = await ok(['version']);
      expect(r.stdout).toMatch(/^Version:\s+\d+\.\d+\.\d+/m);
    },
    T,
  );
});

describe('seeds: ocitest README (docker.io, ECR, quay.io → private registries)', () => {
  it(
    'Docker Hub section: push --config ./build/config.json:… ./build/foo.txt:text/plain, pull -o, push 0.0.2, pull -o ./pulled/0.0.2',
    async () => {
      const REG = plain.host;
      await mkdir(join(work, 'build'), { recursive: true });
      await writeFile(join(work, 'build', 'foo.txt'), 'bar\n');
      await writeFile(join(work, 'build', 'config.json'), '{"name":"foo","value":"bar"}\n');
      let v = '0.0.1';
      await ok([
        'push',
        `${REG}/chrisguest/ocitest:${v}`,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      await mkdir(join(work, 'pulled'), { recursive: true });
      await ok(['pull', '-o', './pulled', `${REG}/chrisguest/ocitest:${v}`]);
      expect(await readFile(join(work, 'pulled', 'build', 'foo.txt'), 'utf8')).toBe('bar\n');

      await appendFile(join(work, 'build', 'foo.txt'), 'oci is cool\n');
      v = '0.0.2';
      await ok([
        'push',
        `${REG}/chrisguest/ocitest:${v}`,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      await mkdir(join(work, 'pulled', v), { recursive: true });
      await ok(['pull', '-o', `./pulled/${v}`, `${REG}/chrisguest/ocitest:${v}`]);
      expect(await readFile(join(work, 'pulled', v, 'build', 'foo.txt'), 'utf8')).toBe('bar\noci is cool\n');
      // The 0.0.1 pull is untouched.
      expect(await readFile(join(work, 'pulled', 'build', 'foo.txt'), 'utf8')).toBe('bar\n');
    },
    T,
  );

  it(
    'AWS section: push REG/ocitest:0.0.1, pull -o ./pulled/0.0.1',
    async () => {
      const REG = plain.host;
      await writeFile(join(work, 'build', 'foo.txt'), 'bar\n');
      await ok([
        'push',
        `${REG}/ocitest:0.0.1`,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      await mkdir(join(work, 'pulled', '0.0.1'), { recursive: true });
      await ok(['pull', '-o', './pulled/0.0.1', `${REG}/ocitest:0.0.1`]);
      expect(await readFile(join(work, 'pulled', '0.0.1', 'build', 'foo.txt'), 'utf8')).toBe('bar\n');
    },
    T,
  );

  it(
    'Browsing section: repository list, repository show-tags, manifest fetch | jq .',
    async () => {
      const REG = plain.host;
      const repos = (await ok(['repository', 'list', REG])).stdout.split('\n').filter(Boolean);
      expect(repos).toEqual(expect.arrayContaining(['chrisguest/ocitest', 'hello-artifact', 'ocitest']));
      const tags = (await ok(['repository', 'show-tags', `${REG}/ocitest`])).stdout.split('\n').filter(Boolean);
      expect(tags).toEqual(['0.0.1']);
      const tags2 = (await ok(['repository', 'show-tags', `${REG}/chrisguest/ocitest`])).stdout
        .split('\n')
        .filter(Boolean)
        .sort();
      expect(tags2).toEqual(['0.0.1', '0.0.2']);

      let text: string;
      const hasJq = spawnSync('sh', ['-c', 'command -v jq'], { encoding: 'utf8' }).status === 0;
      if (hasJq) {
        const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" manifest fetch ${REG}/ocitest:0.0.1 | jq .`], {
          cwd: work,
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(r.status, r.stderr).toBe(0);
        text = r.stdout;
      } else {
        text = (await ok(['manifest', 'fetch', `${REG}/ocitest:0.0.1`])).stdout;
      }
      const m = JSON.parse(text) as Manifest;
      expect(m.config.mediaType).toBe('application/vnd.docker.volume.v1+tar.gz');
      expect(m.layers[0]?.mediaType).toBe('text/plain');
      expect(m.layers[0]?.annotations?.['org.opencontainers.image.title']).toBe('build/foo.txt');
    },
    T,
  );

  it(
    'Quay section: push with --username/--password works; without credentials it fails (exit 4); after oras login it works',
    async () => {
      const REG = basic.host;
      const user = basic.users[0]!;
      const QUAYUSER = user.username;
      const QUAYPASS = user.password;
      const v = '0.0.1';
      const withCreds = await ok([
        'push',
        `${REG}/guestchris75/ocitest:${v}`,
        '--username',
        QUAYUSER,
        '--password',
        QUAYPASS,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      expect(withCreds.stderr).toContain('--password-stdin');

      const anon = await oras([
        'push',
        `${REG}/guestchris75/ocitest:${v}`,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      expect(anon.code, show(anon)).toBe(4);
      expect(anon.stderr).toMatch(/^Error: /m);
      expect(anon.stderr).toMatch(/^Hint: /m);
      expect(anon.stderr).not.toMatch(/\n\s+at /);

      // `docker login quay.io` in the seed: oras login stores into $DOCKER_CONFIG/config.json.
      const login = await ok(['login', REG, '-u', QUAYUSER, '--password-stdin'], { input: `${QUAYPASS}\n` });
      expect(login.stdout).toContain('Login Succeeded');
      const dockerConfig = JSON.parse(await readFile(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as {
        auths?: Record<string, unknown>;
      };
      expect(Object.keys(dockerConfig.auths ?? {})).toContain(REG);

      const after = await ok([
        'push',
        `${REG}/guestchris75/ocitest:${v}`,
        '--config',
        './build/config.json:application/vnd.docker.volume.v1+tar.gz',
        './build/foo.txt:text/plain',
      ]);
      expect(after.stdout).toContain(`Pushed [registry] ${REG}/guestchris75/ocitest:${v}`);

      const logout = await ok(['logout', REG]);
      expect(logout.stdout).toContain('Removed login credentials');
      const again = await oras(['repo', 'tags', `${REG}/guestchris75/ocitest`]);
      expect(again.code, show(again)).toBe(4);
    },
    T,
  );

  it(
    'login with wrong credentials fails (exit 4) and stores nothing',
    async () => {
      const REG = basic.host;
      const r = await oras(['login', REG, '-u', 'alice', '--password-stdin'], { input: 'wrong-password\n' });
      expect(r.code, show(r)).toBe(4);
      const file = join(env.DOCKER_CONFIG!, 'config.json');
      if (existsSync(file)) {
        const cfg = JSON.parse(await readFile(file, 'utf8')) as { auths?: Record<string, unknown> };
        expect(Object.keys(cfg.auths ?? {})).not.toContain(REG);
      }
    },
    T,
  );
});
