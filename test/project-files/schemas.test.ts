import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, test } from 'vitest';

const dir = join(import.meta.dirname, '..', '..', 'schemas');
const NAMES = ['artifacts.schema.json', 'artifacts-lock.schema.json', 'oras-config.schema.json'];

type Schema = {
  description?: string;
  $ref?: string;
  properties?: Record<string, Schema>;
  definitions?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  type?: unknown;
};

/** Every `properties` entry in the schema, with a JSON-pointer-ish location. */
function walk(s: Schema, at: string, out: [string, Schema][]): void {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    out.push([`${at}.${k}`, v]);
    walk(v, `${at}.${k}`, out);
  }
  for (const [k, v] of Object.entries(s.definitions ?? {})) walk(v, `#${k}`, out);
  if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${at}.*`, out);
  if (s.items) walk(s.items, `${at}[]`, out);
}

describe('JSON schemas', () => {
  test.each(NAMES)('%s compiles in ajv strict mode, closes every object and describes every property', async (name) => {
    const schema = JSON.parse(await readFile(join(dir, name), 'utf8')) as Schema;
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    expect(() => ajv.compile(schema)).not.toThrow();
    const props: [string, Schema][] = [];
    walk(schema, '', props);
    expect(props.length).toBeGreaterThan(10);
    for (const [at, p] of props) {
      const target = p.$ref !== undefined ? schema.definitions?.[p.$ref.replace('#/definitions/', '')] : undefined;
      expect(p.description ?? target?.description, `${name} ${at} needs a description`).toBeTruthy();
    }
    const objects: [string, Schema][] = [['(root)', schema], ...Object.entries(schema.definitions ?? {}), ...props];
    for (const [at, o] of objects) {
      const t = o.type;
      if (t === 'object' || (Array.isArray(t) && t.includes('object'))) {
        if (o.properties !== undefined)
          expect(o.additionalProperties, `${name} ${at} must set additionalProperties: false`).toBe(false);
        else expect(o.additionalProperties, `${name} ${at} must constrain additionalProperties`).toBeTypeOf('object');
      }
    }
  });
});
