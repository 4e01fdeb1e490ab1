/**
 * The declarative commands of the built CLI (install, verify, plan, update,
 * outdated, publish) against the harness plain registry: results, JSON shapes
 * and the verify exit codes (5 manifest drift, 6 tree drift).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { type CliResult, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-cli-project-');
const T = 180_000;

async function oras(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, sandbox.env, { cwd });
}

async function ok(args: string[], cwd: string): Promise<CliResult> {
  const r = await oras(args, cwd);
  expect(r.code, show(r)).toBe(0);
  return r;
}

describe('declarative commands', () => {
  it(
    'publish → install → verify (0), tree drift (6), manifest drift (5), plan, outdated, frozen lockfile',
    async () => {
      const REG = registry('plain').host;
      const repo = `${REG}/${uniqueRepo('cli/proj')}`;
      const producer = join(sandbox.root, 'producer');
      await mkdir(producer);
      await writeFile(join(producer, 'data.txt'), 'payload\n');
      await writeFile(
        join(producer, 'artifacts.yaml'),
        `dependencies: {}\npublish:\n  data:\n    ref: ${repo}\n    tags: ["1.0.0"]\n    files: [data.txt]\n`,
      );
      const pub = JSON.parse((await ok(['publish', '--json'], producer)).stdout) as {
        published: { name: string; digest: string; tags: string[] }[];
      };
      expect(pub.published).toEqual([expect.objectContaining({ name: 'data', tags: ['1.0.0'] })]);
      expect((await ok(['resolve', `${repo}:1.0.0`], producer)).stdout.trim()).toBe(pub.published[0]?.digest);

      const consumer = join(sandbox.root, 'consumer');
      await mkdir(consumer);
      await writeFile(
        join(consumer, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`,
      );
      // The oras config file flows into install: hard links from the cache (the cache dir is in the same temp tree).
      await writeFile(join(consumer, 'oras.yaml'), 'cache:\n  link: hardlink\n');
      const plan = await ok(['plan'], consumer);
      expect(plan.stdout).toMatch(/add\s+vendor\/data\/data\.txt/);
      const frozen = await oras(['install', '--frozen-lockfile'], consumer);
      expect(frozen.code, show(frozen)).not.toBe(0);
      expect(frozen.stderr).toMatch(/^Error: /m);

      const inst = JSON.parse((await ok(['install', '--format', 'json'], consumer)).stdout) as {
        counts: { add: number };
        lockfileChanged: boolean;
      };
      expect(inst).toMatchObject({ counts: { add: 1 }, lockfileChanged: true });
      expect(await readFile(join(consumer, 'vendor', 'data', 'data.txt'), 'utf8')).toBe('payload\n');
      const v0 = await ok(['verify'], consumer);
      expect(v0.stdout).toContain('OK');

      await writeFile(join(consumer, 'vendor', 'data', 'data.txt'), 'tampered\n');
      const v6 = await oras(['verify', '--json'], consumer);
      expect(v6.code, show(v6)).toBe(6);
      expect(JSON.parse(v6.stdout)).toMatchObject({
        ok: false,
        exitCode: 6,
        treeDrift: [expect.objectContaining({ path: 'vendor/data/data.txt' })],
      });
      await ok(['install', '--force'], consumer);
      await ok(['verify'], consumer);

      await writeFile(
        join(consumer, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/other\n`,
      );
      const v5 = await oras(['verify'], consumer);
      expect(v5.code, show(v5)).toBe(5);
      expect(v5.stdout).toMatch(/Manifest drift/);

      await writeFile(
        join(consumer, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`,
      );
      await writeFile(join(producer, 'data.txt'), 'payload 1.1\n');
      await writeFile(
        join(producer, 'artifacts.yaml'),
        `dependencies: {}\npublish:\n  data:\n    ref: ${repo}\n    tags: ["1.1.0"]\n    files: [data.txt]\n`,
      );
      await ok(['publish'], producer);
      const outdatedRun = await oras(['outdated', '--json'], consumer);
      expect(outdatedRun.code, show(outdatedRun)).toBe(1); // something is outdated (as pnpm)
      const outdated = JSON.parse(outdatedRun.stdout) as {
        dependencies: { name: string; current: string; wanted: string; outdated: boolean }[];
      };
      expect(outdated.dependencies).toEqual([
        expect.objectContaining({ name: 'data', current: '1.0.0', wanted: '1.1.0', outdated: true }),
      ]);
      await ok(['update'], consumer);
      expect(await readFile(join(consumer, 'vendor', 'data', 'data.txt'), 'utf8')).toBe('payload 1.1\n');
    },
    T,
  );
});
