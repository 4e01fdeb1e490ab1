/**
 * Installing from git, as a user would: `npm install git+file://<this repo>` in an empty ESM project
 * (npm clones HEAD, installs its dev dependencies and runs `prepare`, which builds dist/). Then the
 * package imports, its `oras` bin runs and knows its git commit, and a strict TypeScript consumer
 * compiles every `ts` block of the README's "The library" section against the installed types.
 * Needs the npm registry (or a warm npm cache) for the package's dependencies.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, tempDir } from '../cli/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const T = 900_000;

beforeAll(async () => {
  const t = await tempDir('oras-git-install-');
  dir = t.dir;
  cleanup = t.cleanup;
});
afterAll(async () => {
  await cleanup?.();
});

/** The ```ts blocks of the README section `## The library`. */
async function libraryExamples(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('The library')) ?? '';
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

it(
  'npm install git+file://… gives a working import, an `oras` bin, and types a strict consumer compiles against',
  async () => {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const consumer = join(dir, 'consumer');
    await mkdir(consumer);
    await writeFile(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }),
    );
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `git+file://${ROOT}`], {
      cwd: consumer,
      encoding: 'utf8',
      timeout: T - 60_000,
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(existsSync(join(consumer, 'node_modules', 'oras-ts', 'dist', 'index.js'))).toBe(true);

    const imported = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import * as m from 'oras-ts'; console.log(typeof m.RegistryClient, typeof m.install, typeof m.OrasError)",
      ],
      { cwd: consumer, encoding: 'utf8' },
    );
    expect(imported.trim()).toBe('function function function');
    // The declarative layer from an oras config, through the `oras-ts/project` subpath.
    const project = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { install, ProjectTargets, projectConfig } from 'oras-ts/project'; console.log(typeof install, typeof ProjectTargets, typeof projectConfig)",
      ],
      { cwd: consumer, encoding: 'utf8' },
    );
    expect(project.trim()).toBe('function function function');

    const version = execFileSync(join(consumer, 'node_modules', '.bin', 'oras'), ['version'], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(version).toMatch(/^Version:\s+\d+\.\d+\.\d+/m);
    expect(version).toContain(`Git commit:     ${head}`);

    const examples = await libraryExamples();
    expect(examples.length).toBeGreaterThan(1);
    expect(examples.some((e) => e.includes("from 'oras-ts/project'") && e.includes('config:'))).toBe(true);
    for (const [i, code] of examples.entries())
      await writeFile(join(consumer, `example${i}.ts`), `${code}\nexport {};\n`);
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          lib: ['ES2023'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        include: ['*.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], {
      cwd: consumer,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  },
  T,
);
