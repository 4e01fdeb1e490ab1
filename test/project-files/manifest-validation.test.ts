import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isOrasError, type OrasError } from '../../src/errors.js';
import { loadManifest, parseManifestText } from '../../src/project/spec/manifest.js';
import { validateManifest } from '../../src/project/spec/validate.js';

const D = `sha256:${'a'.repeat(64)}`;

function errorOf(text: string): OrasError {
  try {
    parseManifestText(text);
  } catch (err) {
    if (isOrasError(err)) return err;
    throw err;
  }
  throw new Error('expected parseManifestText to throw');
}

/** The issue lines of an ERR_ORAS_CONFIG message. */
function lines(text: string): string[] {
  const err = errorOf(text);
  expect(err.code).toBe('ERR_ORAS_CONFIG');
  return err.message
    .split('\n')
    .slice(1)
    .map((l) => l.trim());
}

describe('artifacts.yaml validation messages (file:line:col)', () => {
  test('unknown key with a did-you-mean suggestion, and no duplicate "missing path"', () => {
    const out = lines(
      ['dependencies:', '  model:', '    ref: localhost:5000/acme/model:^1.0.0', '    pth: models/bert', ''].join('\n'),
    );
    expect(out).toEqual([
      "artifacts.yaml:4:5: dependencies.model.pth: unknown key 'pth'; did you mean 'path'? (fix: allowed keys here: ref, path, include, exclude, mediaTypes, platform, unpack)",
    ]);
  });

  test('unknown top-level key and unknown publish file key', () => {
    const out = lines(
      [
        'dependencis: {}',
        'publish:',
        '  app:',
        '    ref: localhost:5000/acme/app',
        '    files:',
        '      - path: a.txt',
        '        mediaTyp: text/plain',
        '',
      ].join('\n'),
    );
    expect(out[0]).toMatch(
      /^artifacts\.yaml:1:1: dependencis: unknown key 'dependencis'; did you mean 'dependencies'\?/,
    );
    expect(out[1]).toMatch(
      /^artifacts\.yaml:7:9: publish\.app\.files\[0\]\.mediaTyp: unknown key 'mediaTyp'; did you mean 'mediaType'\?/,
    );
  });

  test('absolute path', () => {
    const out = lines(
      ['dependencies:', '  model:', '    ref: localhost:5000/acme/model:v1', '    path: /opt/models', ''].join('\n'),
    );
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(
      /^artifacts\.yaml:4:11: dependencies\.model\.path: "\/opt\/models" must be relative to the project root, not absolute \(fix: use a path relative/,
    );
  });

  test('".." escaping the project, backslashes, root, and .oras/', () => {
    const out = lines(
      [
        'dependencies:',
        '  a:',
        '    ref: localhost:5000/acme/a:v1',
        '    path: vendor/../../outside',
        '  b:',
        '    ref: localhost:5000/acme/b:v1',
        '    path: vendor\\b',
        '  c:',
        '    ref: localhost:5000/acme/c:v1',
        '    path: ./',
        '  d:',
        '    ref: localhost:5000/acme/d:v1',
        '    path: .oras/cache',
        '',
      ].join('\n'),
    );
    expect(out[0]).toMatch(
      /^artifacts\.yaml:4:11: dependencies\.a\.path: "vendor\/\.\.\/\.\.\/outside" escapes the project directory/,
    );
    expect(out[1]).toMatch(
      /^artifacts\.yaml:7:11: dependencies\.b\.path: .* contains a backslash \(fix: use forward slashes/,
    );
    expect(out[2]).toMatch(/^artifacts\.yaml:10:11: dependencies\.c\.path: "\.\/" is the project root/);
    expect(out[3]).toMatch(/^artifacts\.yaml:13:11: dependencies\.d\.path: "\.oras\/cache" is inside \.oras\//);
  });

  test('bad digest in a ref', () => {
    const out = lines(
      ['dependencies:', '  data:', '    ref: localhost:5000/acme/data@sha256:1234', '    path: data', ''].join('\n'),
    );
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(
      /^artifacts\.yaml:3:10: dependencies\.data\.ref: invalid reference .*digest "sha256:1234" is not sha256:<64 hex>/,
    );
  });

  test('bad semver range, range with digest', () => {
    const out = lines(
      [
        'dependencies:',
        '  x:',
        '    ref: localhost:5000/acme/x:^1.2.x.y',
        '    path: x',
        '  y:',
        `    ref: localhost:5000/acme/y:^1.0.0@${D}`,
        '    path: y',
        '',
      ].join('\n'),
    );
    expect(out[0]).toMatch(
      /^artifacts\.yaml:3:10: dependencies\.x\.ref: .*"\^1\.2\.x\.y" is neither a valid tag nor a valid semver range \(fix: use a tag/,
    );
    expect(out[1]).toMatch(
      /^artifacts\.yaml:6:10: dependencies\.y\.ref: .*a semver range cannot be combined with a digest/,
    );
  });

  test('overlapping paths: same directory and nested', () => {
    const out = lines(
      [
        'dependencies:',
        '  one:',
        '    ref: localhost:5000/acme/one:v1',
        '    path: vendor/one',
        '  two:',
        '    ref: localhost:5000/acme/two:v1',
        '    path: ./vendor/one/',
        '  three:',
        '    ref: localhost:5000/acme/three:v1',
        '    path: vendor/one/sub',
        '  four:',
        '    ref: localhost:5000/acme/four:v1',
        '    path: vendor/one-more',
        '',
      ].join('\n'),
    );
    expect(out).toEqual([
      `artifacts.yaml:7:11: dependencies.two.path: installs into the same directory "vendor/one" as dependency 'one' (fix: give every dependency its own directory, none inside another)`,
      `artifacts.yaml:10:11: dependencies.three.path: path "vendor/one/sub" overlaps "vendor/one" of dependency 'one' (fix: give every dependency its own directory, none inside another)`,
      `artifacts.yaml:10:11: dependencies.three.path: path "vendor/one/sub" overlaps "vendor/one" of dependency 'two' (fix: give every dependency its own directory, none inside another)`,
    ]);
  });

  test('names, types, platform, publish ref with digest — all at once', () => {
    const err = errorOf(
      [
        'dependencies:',
        '  Bad_Name:',
        '    ref: localhost:5000/acme/x:v1',
        '    path: x',
        '  ok:',
        '    ref: localhost:5000/acme/ok:v1',
        '    path: ok',
        '    platform: linux',
        '    unpack: "yes"',
        '    include: []',
        'publish:',
        '  app:',
        `    ref: localhost:5000/acme/app@${D}`,
        '    files: [dist]',
        '    annotations:',
        '      a: 1',
        '',
      ].join('\n'),
    );
    expect(err.message).toMatch(/^artifacts\.yaml has 6 problems:/);
    expect(err.message).toContain(
      'artifacts.yaml:2:3: dependencies.Bad_Name: invalid name "Bad_Name": must be lower-case letters',
    );
    expect(err.message).toContain(
      'artifacts.yaml:8:15: dependencies.ok.platform: "linux" is not a platform (fix: write os/arch[/variant]',
    );
    expect(err.message).toContain('artifacts.yaml:9:13: dependencies.ok.unpack: must be a boolean, not a string');
    expect(err.message).toContain('artifacts.yaml:10:5: dependencies.ok.include: must not be empty');
    expect(err.message).toContain('artifacts.yaml:13:10: publish.app.ref: a publish ref must not contain a digest');
    expect(err.message).toContain('artifacts.yaml:16:10: publish.app.annotations.a: must be a string, not a number');
  });

  test('missing required keys point at the entry', () => {
    const out = lines(['publish:', '  app:', '    ref: localhost:5000/acme/app', ''].join('\n'));
    expect(out).toEqual([
      expect.stringMatching(/^artifacts\.yaml:2:3: publish\.app: missing required key 'files' \(fix: add 'files:'/),
    ]);
  });

  test('YAML syntax errors and duplicate keys are reported with positions', () => {
    const syntax = errorOf('dependencies:\n  a: b: c\n');
    expect(syntax.code).toBe('ERR_ORAS_CONFIG');
    expect(syntax.message).toMatch(/^artifacts\.yaml is not valid YAML:\n {2}artifacts\.yaml:2:\d+: /);
    const dup = errorOf('dependencies: {}\ndependencies: {}\n');
    expect(dup.message).toMatch(/artifacts\.yaml:2:1: .*[Uu]nique/);
  });
});

describe('validateManifest (pure)', () => {
  test('normalizes paths and bare-string files; empty document is an empty manifest', () => {
    expect(validateManifest(null)).toEqual({ value: { dependencies: {}, publish: {} }, issues: [] });
    const r = validateManifest({
      dependencies: { m: { ref: ' localhost:5000/acme/m:^1.0.0 ', path: './models//bert/' } },
      publish: {
        app: {
          ref: 'localhost:5000/acme/app:v1',
          files: ['dist/', { path: './a.txt', mediaType: 'text/plain' }],
          config: { file: './cfg.json' },
        },
      },
    });
    expect(r.issues).toEqual([]);
    expect(r.value).toEqual({
      dependencies: { m: { ref: 'localhost:5000/acme/m:^1.0.0', path: 'models/bert' } },
      publish: {
        app: {
          ref: 'localhost:5000/acme/app:v1',
          files: [{ path: 'dist' }, { path: 'a.txt', mediaType: 'text/plain' }],
          config: { file: 'cfg.json' },
        },
      },
    });
  });

  test('issues carry dot-paths and hints', () => {
    const r = validateManifest({ dependencies: { m: { ref: 'localhost:5000/acme/m:v1', path: '../x' } } });
    expect(r.value).toBeUndefined();
    expect(r.issues).toEqual([
      expect.objectContaining({
        path: 'dependencies.m.path',
        message: '"../x" escapes the project directory',
        hint: expect.stringContaining('..'),
      }),
    ]);
  });

  test('accepts every ref form', () => {
    const refs = [
      'localhost:5000/a/b',
      'localhost:5000/a/b:latest',
      'localhost:5000/a/b:1.2',
      `localhost:5000/a/b@${D}`,
      `localhost:5000/a/b:v1@${D}`,
      'localhost:5000/a/b:>=1.0.0 <2',
      'localhost:5000/a/b:1.x',
      'localhost:5000/a/b:^1.0.0 || ^2.0.0',
    ];
    const deps = Object.fromEntries(refs.map((ref, i) => [`d${i}`, { ref, path: `p${i}` }]));
    expect(validateManifest({ dependencies: deps }).issues).toEqual([]);
  });
});

describe('loadManifest', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oras-manifest-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('missing file: clear error with a hint', async () => {
    const err = await loadManifest(dir).catch((e: unknown) => e);
    expect(isOrasError(err, 'ERR_ORAS_CONFIG')).toBe(true);
    expect((err as OrasError).message).toContain('no artifacts.yaml');
    expect((err as OrasError).hint).toContain('create artifacts.yaml (see fixtures/example-project)');
  });

  test('reads artifacts.yml too, refuses both', async () => {
    await writeFile(
      join(dir, 'artifacts.yml'),
      'dependencies:\n  m:\n    ref: localhost:5000/acme/m:v1\n    path: m\n',
    );
    const { manifest, file } = await loadManifest(dir);
    expect(file).toBe(join(dir, 'artifacts.yml'));
    expect(manifest.dependencies.m?.path).toBe('m');
    await writeFile(join(dir, 'artifacts.yaml'), '{}\n');
    await expect(loadManifest(dir)).rejects.toThrow(/both artifacts\.yaml and artifacts\.yml/);
  });

  test('errors name the file that was read', async () => {
    await writeFile(
      join(dir, 'artifacts.yml'),
      'dependencies:\n  m:\n    ref: localhost:5000/acme/m:v1\n    path: /m\n',
    );
    await expect(loadManifest(dir)).rejects.toThrow(/artifacts\.yml:4:11: dependencies\.m\.path/);
  });
});

describe('empty sections', () => {
  test('"dependencies:" with nothing under it means no dependencies', () => {
    expect(parseManifestText('dependencies:\npublish:\n')).toEqual({ dependencies: {}, publish: {} });
    expect(parseManifestText('')).toEqual({ dependencies: {}, publish: {} });
  });
});

test('numbers where text is expected suggest quoting', () => {
  const err = errorOf(
    [
      'publish:',
      '  app:',
      '    ref: localhost:5000/acme/app',
      '    tags: [1.10, latest]',
      '    files: [dist]',
      '',
    ].join('\n'),
  );
  expect(err.message).toContain(
    'artifacts.yaml:4:12: publish.app.tags[0]: must be a string, not a number (fix: quote the value so YAML reads it as text',
  );
});

test('a dependency written as a bare string gets a how-to hint', () => {
  const err = errorOf('dependencies:\n  model: localhost:5000/acme/model:v1\n');
  expect(err.message).toBe(
    'artifacts.yaml has 1 problem:\n  artifacts.yaml:2:10: dependencies.model: must be a mapping, not a string (fix: write it as a mapping: model: { ref: <registry/repo:tag>, path: <dir> })',
  );
});
