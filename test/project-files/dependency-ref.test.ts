import { describe, expect, test } from 'vitest';
import { isRangeSpecifier, parseDependencyRef } from '../../src/project/spec/dependency-ref.js';
import { classifyTags, latestVersion, pickVersion, tagVersion } from '../../src/project/plan/semver-tags.js';

const D = `sha256:${'c'.repeat(64)}`;

describe('tag vs range vs digest', () => {
  test.each([
    ['latest', 'tag'],
    ['stable', 'tag'],
    ['1.2.3', 'tag'],
    ['v1.2.3', 'tag'],
    ['1.2', 'tag'],
    ['1', 'tag'],
    ['1.2.3-rc.1', 'tag'],
    ['linux-x64', 'tag'],
    ['^1.2.0', 'range'],
    ['~1.2', 'range'],
    ['>=2', 'range'],
    ['>=1.0.0 <2', 'range'],
    ['1.x', 'range'],
    ['v1.2.X', 'range'],
    ['*', 'range'],
    ['=1.2.3', 'range'],
    ['^1.0.0 || ^2.0.0', 'range'],
    ['1.2.3 - 2.0.0', 'range'],
  ])('%s is a %s', (spec, kind) => {
    expect(isRangeSpecifier(spec)).toBe(kind === 'range');
    const ref = parseDependencyRef(`localhost:5000/acme/m:${spec}`);
    expect(ref.kind).toBe(kind);
    expect(ref.reference).toMatchObject({ registry: 'localhost:5000', repository: 'acme/m' });
  });

  test('digests, default tag, errors', () => {
    expect(parseDependencyRef(`localhost:5000/acme/m@${D}`)).toMatchObject({ kind: 'digest', digest: D });
    expect(parseDependencyRef(`localhost:5000/acme/m:v1@${D}`)).toMatchObject({ kind: 'digest', digest: D });
    expect(parseDependencyRef('localhost:5000/acme/m')).toMatchObject({ kind: 'tag', tag: 'latest' });
    expect(() => parseDependencyRef(`localhost:5000/acme/m:^1@${D}`)).toThrow(/cannot be combined with a digest/);
    expect(() => parseDependencyRef('localhost:5000/acme/m:^1.x.y.z')).toThrow(
      /neither a valid tag nor a valid semver range/,
    );
    expect(() => parseDependencyRef('acme:^1')).toThrow(/invalid reference/);
    expect(() => parseDependencyRef('localhost:5000/Acme/m:^1')).toThrow(/repository component/);
  });
});

describe('semver tags', () => {
  test('tagVersion accepts a leading v and _ for build metadata, not partial versions', () => {
    expect(tagVersion('1.2.3')).toBe('1.2.3');
    expect(tagVersion('v2.0.0')).toBe('2.0.0');
    expect(tagVersion('1.0.0-rc.1')).toBe('1.0.0-rc.1');
    expect(tagVersion('1.0.0_build.5')).toBe('1.0.0+build.5');
    expect(tagVersion('1.2')).toBeUndefined();
    expect(tagVersion('latest')).toBeUndefined();
    expect(tagVersion('vv1.0.0')).toBeUndefined();
  });

  test('pickVersion prefers the tag without v for equal versions; prereleases only when named', () => {
    const tags = classifyTags(['v1.2.0', '1.2.0', '1.0.0', '1.3.0-rc.1', 'latest', '2.0.0-beta.1']);
    expect(tags.other).toEqual(['latest']);
    expect(pickVersion(tags, '^1.0.0')?.tag).toBe('1.2.0');
    expect(pickVersion(tags, '^1.3.0-rc.0')?.tag).toBe('1.3.0-rc.1');
    expect(pickVersion(tags, '>=2')).toBeUndefined();
    expect(latestVersion(tags)?.tag).toBe('1.2.0');
    expect(latestVersion(classifyTags(['2.0.0-beta.1']))?.tag).toBe('2.0.0-beta.1');
  });
});
