import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parse, Scalar, stringify, YAMLMap } from 'yaml';
import { fileLineText, parseCanonicalYaml } from '../../src/project/spec/canonical-yaml.js';
import { lockFromDocument } from '../../src/project/spec/lock-format.js';
import { LOCKFILE_HEADER, parseLockfileText, serializeLockfile } from '../../src/project/spec/lockfile.js';
import { parseManifestText } from '../../src/project/spec/manifest.js';
import type { Lockfile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const M = 'application/vnd.oci.image.manifest.v1+json';
const full = (text: string): unknown => parse(text, { strict: true, uniqueKeys: true });

function lockWith(values: { path?: string; tag?: string; ref?: string; include?: string[] }): Lockfile {
  return {
    lockfileVersion: 2,
    dependencies: {
      dep: {
        specifier: {
          ref: values.ref ?? 'localhost:5000/acme/z:^1.0.0',
          path: 'vendor/z',
          ...(values.include ? { include: values.include } : {}),
          unpack: false,
        },
        resolved: `localhost:5000/acme/z:1.2.0@${D('a')}`,
        ...(values.tag !== undefined ? { tag: values.tag } : {}),
        digest: D('a'),
        mediaType: M,
        artifactType: 'application/vnd.acme.model.v1',
        files: [
          { path: `vendor/z/${values.path ?? 'a.bin'}`, digest: D('b'), size: 3, layer: D('b'), mode: 0o755 },
          { path: 'vendor/z/b.bin', digest: D('c'), size: 0, layer: D('d') },
        ],
      },
    },
    publish: { app: { ref: 'localhost:5000/acme/app', digest: D('f'), tags: ['v1', 'latest', '1.0', '007', 'true'] } },
  };
}

describe('parseCanonicalYaml (fast reader of the canonical YAML subset)', () => {
  it('reads serialized lockfiles exactly like the yaml package, whatever the strings hold', () => {
    const tricky = [
      '1.0',
      '1.0.0',
      '007',
      'true',
      'yes',
      'null',
      '~',
      '',
      ' lead',
      'trail ',
      'a: b',
      'a #b',
      '#x',
      '- x',
      '"q"',
      "it's",
      'back\\slash',
      'new\nline',
      'tab\there',
      'ünïcode',
      '0o17',
      '0x1F',
      '1e5',
      '.inf',
      '2024-01-01',
      '12:30',
      '@at',
      '*star',
      '&amp',
      '!bang',
      '%pct',
      '{a}',
      '[b]',
      'x:',
      'x: ',
      '<<',
    ];
    let fastHits = 0;
    for (const t of tricky) {
      for (const lock of [lockWith({ path: `d/${t}x` }), lockWith({ tag: t }), lockWith({ include: [t, `*${t}`] })]) {
        const text = serializeLockfile(lock);
        const fast = parseCanonicalYaml(text);
        if (fast !== undefined) {
          fastHits++;
          expect(fast).toEqual(full(text));
        }
      }
    }
    // The common case (plain refs, digests, tags like 1.2.0) must take the fast path.
    expect(parseCanonicalYaml(serializeLockfile(lockWith({ tag: '1.2.0' })))).toEqual(
      full(serializeLockfile(lockWith({ tag: '1.2.0' }))),
    );
    expect(fastHits).toBeGreaterThan(tricky.length);
  });

  it('reads file entries whose path starts with anything like the yaml package (the one-regex file line)', () => {
    const starts = ['e5', 'E10', 'e', 'e1.bin', 'ex.bin', 'yes', 'null', 'on', 'Y', 'NULL', 'y.bin', 'no-1', '_', '_1'];
    const more = [
      'a-b',
      'f000001.bin',
      'dir/sub/f.txt',
      'a.b.c',
      'x_y',
      'Z9',
      'inf',
      'nan',
      'ON.txt',
      'True',
      'true.1',
    ];
    let fastHits = 0;
    for (const t of [...starts, ...more, '1e5', '0x1F', '007', '.inf', '-a', 'a:b', 'a b', 'ünï']) {
      for (const path of [t, `${t}.bin`, `${t}/x`]) {
        // No publish tags like `true` or `007`, which the fast writer leaves to the yaml package: this lock takes it.
        const lock: Lockfile = { ...lockWith({ path }), publish: {} };
        const text = serializeLockfile(lock);
        // Written and read back, the path is the same string (the writer's file line quotes what it must).
        const files = parseLockfileText(text).dependencies.dep?.files ?? [];
        expect(files.find((f) => f.digest === D('b'))?.path, path).toBe(`vendor/z/${path}`);
        expect(lock.dependencies.dep?.files[0]?.path).toBe(`vendor/z/${path}`);
        const fast = parseCanonicalYaml(text);
        if (fast === undefined) continue;
        fastHits++;
        expect(fast, path).toEqual(full(text));
      }
    }
    expect(fastHits).toBeGreaterThan(60);
    // Hand-written lines the writer would quote: read as YAML reads them, or left to the full parser.
    const base = serializeLockfile(lockWith({ path: 'a.bin' }));
    expect(base).toContain('{ path: a.bin, size: 3');
    for (const word of ['null', 'NULL', 'yes', 'on', 'Y', 'true', 'e5', 'E10', '1e5', '0x1F', '007', '.inf', '~']) {
      const text = base.replace('{ path: a.bin,', `{ path: ${word},`);
      const fast = parseCanonicalYaml(text);
      if (fast !== undefined) expect(fast, word).toEqual(full(text));
    }
  });

  it('agrees with the yaml package on random printable strings', () => {
    const alphabet = 'abcXYZ019 ._-/:@+=#"\'\\!&*%,[]{}|>?~^<()$`\n\t';
    let fastHits = 0;
    for (let n = 0; n < 1500; n++) {
      const bytes = randomBytes(1 + (n % 12));
      const s = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
      const text = serializeLockfile(lockWith({ tag: s, include: [s] }));
      const fast = parseCanonicalYaml(text);
      if (fast !== undefined) {
        fastHits++;
        expect(fast, JSON.stringify(s)).toEqual(full(text));
      }
    }
    expect(fastHits).toBeGreaterThan(150);
  });

  it('on mutated lockfile text, accepts only what the yaml package accepts, with the same value', () => {
    const base = serializeLockfile(lockWith({ tag: '1.2.0', include: ['*.bin'] }));
    const pieces = [' ', '  ', '\n', ':', ': ', '- ', '#', '"', "'", '-', '0', 'a', '{}', '[]', '\n  ', '\n    x: 1'];
    let accepted = 0;
    for (let n = 0; n < 1500; n++) {
      const r = randomBytes(6);
      const at = r.readUInt16BE(0) % base.length;
      const del = r[2]! % 3;
      const ins = r[3]! % 2 === 0 ? pieces[r[4]! % pieces.length]! : '';
      const text = base.slice(0, at) + ins + base.slice(at + del);
      const fast = parseCanonicalYaml(text);
      if (fast === undefined) continue;
      accepted++;
      let expected: unknown;
      expect(
        () => {
          expected = full(text);
        },
        JSON.stringify(text.slice(Math.max(0, at - 40), at + 40)),
      ).not.toThrow();
      expect(fast).toEqual(expected);
    }
    expect(accepted).toBeGreaterThan(50);
  });

  it('serializeLockfile writes exactly the text the yaml package writes (fast writer or not)', () => {
    const reference = (text: string): string => {
      const value = full(text) as Record<string, unknown>;
      const octal = (v: number): Scalar => {
        const sc = new Scalar(v);
        sc.format = 'OCT';
        return sc;
      };
      const body = stringify(
        value,
        (_key: unknown, v: unknown) => {
          // A v2 layer file entry (first key `path`, has `size`): one flow-style line.
          if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v)[0] !== 'path' || !('size' in v))
            return v;
          const map = new YAMLMap();
          map.flow = true;
          for (const [k, x] of Object.entries(v)) map.set(k, k === 'mode' ? octal(x as number) : x);
          return map;
        },
        { lineWidth: 0, minContentWidth: 0, indent: 2, indentSeq: true, aliasDuplicateObjects: false },
      );
      return `${LOCKFILE_HEADER}\n${body}`;
    };
    const strings = [
      '1.2.0',
      'v1',
      'a b',
      '~1.2',
      '^1.0.0',
      '>=1 <2',
      'x:y',
      "it's",
      '.hidden',
      '$HOME',
      '(x)',
      'a,b',
      'a!b',
      '1.0',
      'yes',
      'a #b',
      'a: b',
      '',
      'ü',
      `sha256:${'0'.repeat(64)}`,
      `sha512:${'ab'.repeat(64)}`,
    ];
    for (const t of strings) {
      for (const lock of [
        lockWith({ tag: t }),
        lockWith({ path: `${t}x` }),
        lockWith({ include: [t] }),
        lockWith({ ref: `localhost:5000/acme/z:${t}` }),
      ]) {
        const text = serializeLockfile(lock);
        expect(text, JSON.stringify(t)).toBe(reference(text));
        expect(full(text)).toEqual(full(reference(text)));
      }
    }
    const empty: Lockfile = { lockfileVersion: 2, dependencies: {}, publish: {} };
    expect(serializeLockfile(empty)).toBe(`${LOCKFILE_HEADER}\nlockfileVersion: 2\ndependencies: {}\npublish: {}\n`);
  });

  it('fileLineText writes a file line only when both readers read it back as the same values', () => {
    const cases: Array<[string, number, string, number | undefined, boolean]> = [
      ['a/b.txt', 0, D('a'), undefined, true],
      ['_x-1/y.z', 1e15 - 1, `sha512:${'ab'.repeat(64)}`, 0o755, true],
      ['a1', 7, D('b'), 8 ** 10 - 1, true],
      ['a1', 7, D('b'), 0, true],
      ['e1', 1, D('a'), undefined, false], // an exponent alone is a float
      ['E.x', 1, D('a'), undefined, false],
      ['yes', 1, D('a'), undefined, false], // a word
      ['a b/c', 1, D('a'), undefined, false],
      ['a,b/c', 1, D('a'), undefined, false],
      ['.a', 1, D('a'), undefined, false],
      ['a/b', 1e15, D('a'), undefined, false],
      ['a/b', 1.5, D('a'), undefined, false],
      ['a/b', -1, D('a'), undefined, false],
      ['a/b', 1, `sha256:${'A'.repeat(64)}`, undefined, false],
      ['a/b', 1, `sha1:${'a'.repeat(40)}`, undefined, false],
      ['a/b', 1, D('a'), 8 ** 10, false],
      ['a/b', 1, D('a'), 1.5, false],
      ['a/b', 1, D('a'), -1, false],
    ];
    for (const [path, size, digest, mode, written] of cases) {
      const what = JSON.stringify([path, size, digest.slice(0, 9), mode]);
      const text = fileLineText(path, size, digest, mode);
      expect(text !== undefined, what).toBe(written);
      if (text === undefined) continue;
      const value = { f: [{ path, size, digest, ...(mode !== undefined ? { mode } : {}) }] };
      expect(parseCanonicalYaml(`f:\n  - ${text}\n`), what).toEqual(value);
      expect(full(`f:\n  - ${text}\n`), what).toEqual(value);
    }
  });

  it('returns undefined for anything outside the subset', () => {
    const outside = [
      'a: 1\na: 2\n', // duplicate key
      'a: &x 1\nb: *x\n', // anchors and aliases
      'a: !!str 1\n', // tags
      'a: [1, 2]\n', // flow sequence
      'a: {b: 1}\n', // flow mapping
      'a: |\n  text\n', // block scalar
      'a: 1 # comment\n', // trailing comment
      'a:\n\tb: 1\n', // tab
      'a: 1\r\n', // CR
      '- 1\n- 2\n', // top-level sequence
      'a:\n    b: 1\n', // 4-space indent
      'a:\n- 1\n', // unindented sequence
      '---\na: 1\n', // document marker
      '%YAML 1.1\n---\na: yes\n', // directive
      'a: 1.5\n', // float
      'a: null\n', // null
      'a:\n', // empty value
      'a: "\\x41"\n', // YAML-only escape
      'a: b: c\n',
      '',
    ];
    for (const text of outside) expect(parseCanonicalYaml(text), JSON.stringify(text)).toBeUndefined();
  });

  it('reads plain and double-quoted keys with colons (oras.yaml registry hosts) like the yaml package', () => {
    const texts = [
      'registries:\n  "127.0.0.1:5000":\n    plainHttp: true\ncache:\n  dir: /tmp/c\n',
      'registries:\n  localhost:5000:\n    plainHttp: true\n    mirrors:\n      - mirror.example:443\n      - "m2"\n',
      '"quoted key": 1\n"a:b": "c: d"\n',
      'a/b@c: x\nhttp://h: z\n',
    ];
    for (const text of texts) {
      const fast = parseCanonicalYaml(text);
      expect(fast, text).toBeDefined();
      expect(fast).toEqual(full(text));
    }
  });

  it('parseLockfileText gives the same lock and the same errors as before', () => {
    const text = serializeLockfile(lockWith({ tag: '1.2.0' }));
    expect(parseLockfileText(text)).toEqual(lockFromDocument(full(text) as Record<string, unknown>));
    // Canonical text that fails validation still gets positioned messages from the full parser.
    const bad = text.replace(`digest: ${D('b')}`, 'digest: sha256:nothex');
    expect(parseCanonicalYaml(bad)).toBeDefined();
    expect(() => parseLockfileText(bad)).toThrow(/artifacts\.lock:\d+:\d+/);
  });

  it('parseManifestText takes the fast path for canonical artifacts.yaml and still validates', () => {
    const yaml = 'dependencies:\n  model:\n    ref: localhost:5000/acme/m:1.0.0\n    path: ./vendor/m/\n';
    expect(parseManifestText(yaml)).toEqual({
      dependencies: { model: { ref: 'localhost:5000/acme/m:1.0.0', path: 'vendor/m' } },
      publish: {},
    });
    expect(() =>
      parseManifestText('dependencies:\n  model:\n    ref: localhost:5000/acme/m:1.0.0\n    path: /abs\n'),
    ).toThrow(/artifacts\.yaml:4:11/);
  });
});
