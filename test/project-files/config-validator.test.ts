import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { validateLockfile } from '../../src/project/spec/lockfile-validate.js';
import { preloadValidators } from '../../src/project/spec/schema-validators.js';
import { validateConfig, validateManifest } from '../../src/project/spec/validate.js';
// @ts-expect-error plain ESM script without types
import { generate, OUTPUT, TARGETS } from './gen-config-validator.mjs';

describe('precompiled oras config validator', () => {
  it('src/project/spec/oras-config-validate.ts is up to date with schemas/oras-config.schema.json (regenerate: node test/project-files/gen-config-validator.mjs)', () => {
    expect(readFileSync(OUTPUT as string, 'utf8')).toBe((generate as () => string)());
  });

  it('reports the same issues as a freshly compiled schema', () => {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    const fresh = ajv.compile(
      JSON.parse(readFileSync(new URL('../../schemas/oras-config.schema.json', import.meta.url), 'utf8')) as object,
    );
    const docs: unknown[] = [
      {},
      { registries: { 'localhost:5000': { plainHttp: true, mirrors: ['a.example', 'a.example'] } } },
      { registries: { 'bad host!': {} }, concurrency: 0, cache: { link: 'sideways', dir: '' } },
      { limits: { maxManifestBytes: 10 }, extra: 1, credentials: { configPath: 3 } },
      { registries: { 'r.example': { headers: { 'X-Ok': 'v', 'bad header': 'v' }, caFile: '' } } },
      [],
    ];
    for (const doc of docs) {
      const ok = fresh(doc);
      const { issues } = validateConfig(doc);
      expect(issues.length === 0).toBe(ok);
      if (!ok) expect(issues.length).toBeGreaterThan(0);
    }
  });

  for (const [name, file] of Object.entries(TARGETS as Record<string, string>)) {
    it(`${file.split('/').pop()} is up to date with schemas/${name}.schema.json`, () => {
      expect(readFileSync(file, 'utf8')).toBe((generate as (n: string) => string)(name));
    });
  }

  it('artifacts.yaml and artifacts.lock validators report the same verdicts as freshly compiled schemas', async () => {
    await preloadValidators();
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    const compile = (n: string) =>
      ajv.compile(
        JSON.parse(readFileSync(new URL(`../../schemas/${n}.schema.json`, import.meta.url), 'utf8')) as object,
      );
    const manifests: unknown[] = [
      { dependencies: { a: { ref: 'r.example/a:1', path: 'deps/a' } } },
      { dependencies: { a: { ref: 3, path: 'deps/a', bogus: 1 } } },
      { dependencies: [], publish: 'x' },
    ];
    const fm = compile('artifacts');
    for (const doc of manifests) expect(validateManifest(doc).issues.length === 0).toBe(fm(doc));
    const digest = `sha256:${'a'.repeat(64)}`;
    const locks: unknown[] = [
      {
        lockfileVersion: 1,
        dependencies: {
          a: {
            specifier: { ref: 'r.example/a:1', path: 'deps/a' },
            resolved: `r.example/a:1@${digest}`,
            digest,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            files: [{ path: 'deps/a/x', digest, size: 1, layer: digest }],
          },
        },
        publish: {},
      },
      {
        lockfileVersion: 1,
        dependencies: {
          a: {
            specifier: { ref: 'r.example/a:1', path: 'deps/a' },
            resolved: 'x',
            digest: 'sha256:zz',
            files: [{ path: 'deps/a/x', size: -1 }],
          },
        },
      },
      { lockfileVersion: 1, dependencies: 'nope' },
    ];
    const fl = compile('artifacts-lock');
    for (const doc of locks) expect(validateLockfile(doc).issues.length === 0).toBe(fl(doc));
  });
});
