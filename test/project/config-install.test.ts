// The oras config as a library input: install/verify/publish from oras.yaml alone (mirror,
// ociLayout, credentials from the docker config it names, a CA for the TLS registry) give the
// same lock and tree as the `oras` CLI given the same file.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  OciLayoutStore,
  RegistryClient,
  Repository,
  createCredentialProvider,
  createRegistryClientFor,
  install,
  ProjectTargets,
  resolveConfig,
  packArtifact,
  publish,
  verify,
} from '../../src/index.js';
import { registry, uniqueRepo, userOf } from '../harness/context.js';
import { runCli, show, useCliSandbox } from '../cli/helpers.js';
import { listTree } from './helpers.js';

const sandbox = useCliSandbox('oras-config-install-');
const LAYOUT_HOST = 'fixtures.example.com';

/** Pushes one text file as an artifact tagged v1 to `target` (`cwd` holds the file). */
async function pushFile(target: Repository | OciLayoutStore, cwd: string, name: string, text: string): Promise<void> {
  await writeFile(join(cwd, name), text);
  await packArtifact(target, { files: [{ path: name }], tags: ['v1'], cwd });
}

/** A tree as `path → content`. */
async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of await listTree(dir)) if (p.startsWith('vendor/')) out[p] = await readFile(join(dir, p), 'utf8');
  return out;
}

describe('install from an oras config through the library API alone', () => {
  it('mirror, ociLayout, docker-config credentials and a CA: the same lock and tree as the CLI; verify and publish too', async () => {
    const { root, env } = sandbox;
    const plain = registry('plain');
    const basic = registry('basic');
    const tls = registry('tls');
    const user = userOf(basic);
    const src = join(root, 'src');
    await mkdir(src, { recursive: true });

    // Content: plain (reached only through the mirror), basic (credentials), tls (CA), a local layout.
    const repoA = uniqueRepo('cfg/mirrored');
    const repoB = uniqueRepo('cfg/auth');
    const repoC = uniqueRepo('cfg/tls');
    const pushClient = new RegistryClient({
      plainHttp: true,
      credentials: createCredentialProvider({ noConfig: true, username: user.username, password: user.password }),
    });
    const tlsClient = new RegistryClient({ plainHttp: false, caFile: tls.caFile! });
    await pushFile(new Repository({ reference: `${plain.host}/${repoA}`, client: pushClient }), src, 'a.txt', 'A\n');
    await pushFile(new Repository({ reference: `${basic.host}/${repoB}`, client: pushClient }), src, 'b.txt', 'B\n');
    await pushFile(new Repository({ reference: `${tls.host}/${repoC}`, client: tlsClient }), src, 'c.txt', 'C\n');
    await Promise.all([pushClient.close(), tlsClient.close()]);
    await pushFile(await OciLayoutStore.open(join(root, 'layouts', 'tools', 'lint')), src, 'd.txt', 'D\n');

    const dockerConfig = join(root, 'auth', 'config.json');
    await mkdir(join(root, 'auth'));
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
    await writeFile(dockerConfig, JSON.stringify({ auths: { [basic.host]: { auth } } }));
    // 127.0.0.1:9 (discard) never answers: only its mirror can serve repoA.
    const configFile = join(root, 'oras.yaml');
    await writeFile(
      configFile,
      [
        'registries:',
        '  "127.0.0.1:9":',
        `    mirrors: ["${plain.host}"]`,
        `  "${tls.host}":`,
        `    caFile: ${tls.caFile!}`,
        `  ${LAYOUT_HOST}:`,
        `    ociLayout: ${join(root, 'layouts')}`,
        'credentials:',
        `  configPath: ${dockerConfig}`,
        '',
      ].join('\n'),
    );
    const manifest = [
      'dependencies:',
      `  a: { ref: "127.0.0.1:9/${repoA}:v1", path: vendor/a }`,
      `  b: { ref: "${basic.host}/${repoB}:v1", path: vendor/b }`,
      `  c: { ref: "${tls.host}/${repoC}:v1", path: vendor/c }`,
      `  d: { ref: "${LAYOUT_HOST}/tools/lint:v1", path: vendor/d }`,
      'publish:',
      `  out: { ref: "${LAYOUT_HOST}/published/out:v2", files: [vendor/a/a.txt] }`,
      '',
    ].join('\n');
    const libDir = join(root, 'lib-project');
    const cliDir = join(root, 'cli-project');
    for (const d of [libDir, cliDir]) {
      await mkdir(d);
      await writeFile(join(d, 'artifacts.yaml'), manifest);
    }

    // The library: the config file and nothing else (no target factory, no cache dir, no flags).
    const libEnv = { ...env, ORAS_CACHE_DIR: join(root, 'lib-cache') };
    const result = await install({ projectDir: libDir, config: configFile, env: libEnv });
    expect(result.counts.add).toBe(4);

    const cli = await runCli(['install'], env, {
      cwd: cliDir,
      env: { ORAS_CONFIG: configFile, ORAS_CACHE_DIR: join(root, 'cli-cache') },
    });
    expect(cli.code, show(cli)).toBe(0);

    const libLock = await readFile(join(libDir, 'artifacts.lock'), 'utf8');
    expect(libLock).toBe(await readFile(join(cliDir, 'artifacts.lock'), 'utf8'));
    const tree = await treeOf(libDir);
    expect(tree).toEqual(await treeOf(cliDir));
    expect(tree).toEqual({
      'vendor/a/a.txt': 'A\n',
      'vendor/b/b.txt': 'B\n',
      'vendor/c/c.txt': 'C\n',
      'vendor/d/d.txt': 'D\n',
    });

    // The same config as ORAS_CONFIG in `env` (the library's default, as the CLI's).
    const report = await verify({
      projectDir: libDir,
      env: { ...libEnv, ORAS_CONFIG: configFile },
      config: configFile,
    });
    expect(report.ok, JSON.stringify(report)).toBe(true);
    // publish: a host mapped with ociLayout writes into that layout.
    const pub = await publish({ projectDir: libDir, config: configFile, env: libEnv });
    const layout = await OciLayoutStore.open(join(root, 'layouts', 'published', 'out'), {
      readOnly: true,
      create: false,
    });
    expect((await layout.resolve('v2')).digest).toBe(pub.published[0]!.digest);
  });

  it('an explicit credential reaches the client host only; ProjectTargets (every host, mirrors) drops it', async () => {
    const { root } = sandbox;
    const basic = registry('basic');
    const user = userOf(basic);
    const repo = uniqueRepo('cfg/explicit');
    const src = join(root, 'explicit-src');
    await mkdir(src, { recursive: true });
    const credential = { username: user.username, password: user.password };
    const env = { DOCKER_CONFIG: join(root, 'no-docker-config') };
    const client = await createRegistryClientFor(basic.host, { access: { plainHttp: true, credential }, env });
    await pushFile(new Repository({ reference: `${basic.host}/${repo}`, client }), src, 'e.txt', 'E\n');
    await client.close();
    const targets = new ProjectTargets({
      config: resolveConfig({}, root, {}),
      access: { plainHttp: true, credential },
      env,
    });
    try {
      const target = await targets.readFactory()(`${basic.host}/${repo}`);
      await expect(target.resolve('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    } finally {
      await targets.close();
    }
  });

  it('without a config option the file is searched from the project and its trust rules apply', async () => {
    const { root, env } = sandbox;
    const dir = join(root, 'untrusted');
    await mkdir(dir);
    await writeFile(join(dir, 'artifacts.yaml'), 'dependencies: {}\n');
    await writeFile(join(dir, 'oras.yaml'), 'registries:\n  registry.example.com:\n    plainHttp: true\n');
    await expect(install({ projectDir: dir, env })).rejects.toMatchObject({ code: 'ERR_ORAS_UNTRUSTED_CONFIG' });
    const cli = await runCli(['install'], env, { cwd: dir });
    expect(cli.code, show(cli)).not.toBe(0);
    expect(cli.stderr).toContain('is not trusted');
  });
});
