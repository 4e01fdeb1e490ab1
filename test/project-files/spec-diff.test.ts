import { describe, expect, test } from 'vitest';
import {
  compareManifestToLock,
  formatSpecChanges,
  normalizeDependencySpec,
  specifierMatches,
} from '../../src/project/plan/spec-diff.js';
import type { Lockfile, LockedDependency, ProjectManifest } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;

function locked(ref: string, path: string, extra: Partial<LockedDependency['specifier']> = {}): LockedDependency {
  return {
    specifier: { ref, path, ...extra },
    resolved: `${ref.split(':^')[0]}@${D('a')}`,
    digest: D('a'),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    files: [],
  };
}

describe('compareManifestToLock', () => {
  test('no changes when specifiers are equal after normalizing defaults', () => {
    const manifest: ProjectManifest = {
      dependencies: {
        m: {
          ref: 'localhost:5000/acme/m:^1.0.0',
          path: './models/m/',
          unpack: true,
          exclude: [],
          include: ['b', 'a', 'a'],
        },
      },
      publish: {},
    };
    const lock: Lockfile = {
      lockfileVersion: 1,
      dependencies: { m: locked('localhost:5000/acme/m:^1.0.0', 'models/m', { include: ['a', 'b'] }) },
      publish: {},
    };
    expect(compareManifestToLock(manifest, lock).changes).toEqual([]);
    expect(specifierMatches(manifest.dependencies.m!, lock.dependencies.m!.specifier)).toBe(true);
    expect(normalizeDependencySpec(manifest.dependencies.m!)).toEqual({
      ref: 'localhost:5000/acme/m:^1.0.0',
      path: 'models/m',
      include: ['a', 'b'],
    });
  });

  test('added, removed and changed fields, formatted readably', () => {
    const manifest: ProjectManifest = {
      dependencies: {
        model: { ref: 'localhost:5000/acme/model:^2.0.0', path: 'models', unpack: false },
        data: { ref: 'localhost:5000/acme/data:v1', path: 'data' },
      },
      publish: { app: { ref: 'localhost:5000/acme/app2', files: [{ path: 'dist' }] } },
    };
    const lock: Lockfile = {
      lockfileVersion: 1,
      dependencies: {
        model: locked('localhost:5000/acme/model:^1.0.0', 'models', { platform: 'linux/amd64' }),
        old: locked('localhost:5000/acme/old:v1', 'old'),
      },
      publish: {
        app: { ref: 'localhost:5000/acme/app', digest: D('b'), tags: ['v1'] },
        gone: { ref: 'localhost:5000/acme/gone', digest: D('c'), tags: ['v1'] },
      },
    };
    const { changes } = compareManifestToLock(manifest, lock);
    expect(changes).toEqual([
      { kind: 'added', section: 'dependencies', name: 'data', wanted: 'localhost:5000/acme/data:v1' },
      {
        kind: 'changed',
        section: 'dependencies',
        name: 'model',
        field: 'ref',
        wanted: 'localhost:5000/acme/model:^2.0.0',
        locked: 'localhost:5000/acme/model:^1.0.0',
      },
      { kind: 'changed', section: 'dependencies', name: 'model', field: 'platform', locked: 'linux/amd64' },
      { kind: 'changed', section: 'dependencies', name: 'model', field: 'unpack', wanted: false },
      { kind: 'removed', section: 'dependencies', name: 'old', locked: 'localhost:5000/acme/old:v1' },
      {
        kind: 'changed',
        section: 'publish',
        name: 'app',
        field: 'ref',
        wanted: 'localhost:5000/acme/app2',
        locked: 'localhost:5000/acme/app',
      },
      { kind: 'removed', section: 'publish', name: 'gone', locked: 'localhost:5000/acme/gone' },
    ]);
    expect(formatSpecChanges(changes)).toBe(
      [
        '+ dependencies.data: added to artifacts.yaml ("localhost:5000/acme/data:v1"), not in artifacts.lock',
        '~ dependencies.model.ref: locked "localhost:5000/acme/model:^1.0.0" → wanted "localhost:5000/acme/model:^2.0.0"',
        '~ dependencies.model.platform: locked "linux/amd64" → wanted (default)',
        '~ dependencies.model.unpack: locked (default) → wanted false',
        '- dependencies.old: removed from artifacts.yaml, still in artifacts.lock ("localhost:5000/acme/old:v1")',
        '~ publish.app.ref: locked "localhost:5000/acme/app" → wanted "localhost:5000/acme/app2"',
        '- publish.gone: removed from artifacts.yaml, still in artifacts.lock ("localhost:5000/acme/gone")',
      ].join('\n'),
    );
    expect(compareManifestToLock(manifest, lock, { sections: ['dependencies'] }).changes).toHaveLength(5);
  });

  test('no lockfile: every dependency is added; a never-published publishable is not a change', () => {
    const manifest: ProjectManifest = {
      dependencies: { m: { ref: 'localhost:5000/acme/m:v1', path: 'm', include: ['*.txt'] } },
      publish: { app: { ref: 'localhost:5000/acme/app', files: [{ path: 'dist' }] } },
    };
    const { changes } = compareManifestToLock(manifest, undefined);
    expect(changes).toEqual([
      { kind: 'added', section: 'dependencies', name: 'm', wanted: 'localhost:5000/acme/m:v1' },
    ]);
    expect(formatSpecChanges([])).toBe('');
    const list = compareManifestToLock(
      { dependencies: { m: { ref: 'localhost:5000/acme/m:v1', path: 'm', include: ['*.bin'] } }, publish: {} },
      {
        lockfileVersion: 1,
        dependencies: { m: locked('localhost:5000/acme/m:v1', 'm', { include: ['*.txt'] }) },
        publish: {},
      },
    );
    expect(formatSpecChanges(list.changes)).toBe('~ dependencies.m.include: locked ["*.txt"] → wanted ["*.bin"]');
  });
});
