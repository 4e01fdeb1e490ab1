import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { validateConfig } from '../../src/project/validate.js';
// @ts-expect-error plain ESM script without types
import { generate, OUTPUT } from './gen-config-validator.mjs';

describe('precompiled oras config validator', () => {
  it('src/project/oras-config-validate.ts is up to date with schemas/oras-config.schema.json (regenerate: node test/project-files/gen-config-validator.mjs)', () => {
    expect(readFileSync(OUTPUT as string, 'utf8')).toBe((generate as () => string)());
  });

  it('reports the same issues as a freshly compiled schema', () => {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    const fresh = ajv.compile(JSON.parse(readFileSync(new URL('../../schemas/oras-config.schema.json', import.meta.url), 'utf8')) as object);
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
});
