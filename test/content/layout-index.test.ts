import { describe, expect, it } from 'vitest';
import {
  entriesByDigest,
  findTagged,
  isValidRefName,
  parseLayoutIndex,
  recordManifest,
  removeEntries,
  tagManifest,
  tagNames,
  untagManifest,
  type LayoutIndex,
} from '../../src/content/layout-index.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import { descOf } from './fixtures.js';

const a = descOf('a', MediaType.ImageManifest);
const b = descOf('b', MediaType.ImageManifest);
const named = (d: typeof a, n: string) => ({ ...d, annotations: { [Annotation.RefName]: n } });

describe('layout index edits', () => {
  it('parses, keeps unknown fields, and validates entries', () => {
    const idx = parseLayoutIndex(
      Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [named(a, 'v1')], annotations: { x: 'y' } })),
      'index.json',
    );
    expect(idx.annotations).toEqual({ x: 'y' });
    expect(() =>
      parseLayoutIndex(
        Buffer.from('{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:zz","size":1}]}'),
        'i',
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_ORAS_INVALID_DIGEST' }));
    expect(() => parseLayoutIndex(Buffer.from('{"schemaVersion":1,"manifests":[]}'), 'i')).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_INVALID_MANIFEST' }),
    );
    expect(() => parseLayoutIndex(Buffer.from('nope'), 'i')).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_INVALID_MANIFEST' }),
    );
  });

  it('records, tags, moves and untags like oras-go', () => {
    const idx: LayoutIndex = { schemaVersion: 2, manifests: [] };
    expect(recordManifest(idx, a)).toBe(true);
    expect(recordManifest(idx, a)).toBe(false);
    tagManifest(idx, a, 'v1');
    tagManifest(idx, a, 'latest');
    expect(idx.manifests).toEqual([named(a, 'v1'), named(a, 'latest')]); // untagged entry replaced
    tagManifest(idx, b, 'v1');
    expect(findTagged(idx, 'v1')).toEqual(b);
    expect(tagNames(idx)).toEqual(['latest', 'v1']);
    expect(untagManifest(idx, 'latest')).toBe(true);
    expect(untagManifest(idx, 'latest')).toBe(false);
    expect(idx.manifests).toEqual([named(b, 'v1'), a]); // a keeps an untagged entry
    tagManifest(idx, b, 'v1');
    expect(idx.manifests).toEqual([a, named(b, 'v1')]);
    expect(removeEntries(idx, b.digest)).toBe(true);
    expect(idx.manifests).toEqual([a]);
  });

  it('maps each digest to its first entry (the one a digest resolves to)', () => {
    const idx: LayoutIndex = { schemaVersion: 2, manifests: [named(a, 'v1'), b, named(a, 'v2')] };
    const entries = entriesByDigest(idx);
    expect([...entries.keys()]).toEqual([a.digest, b.digest]);
    expect(entries.get(a.digest)).toBe(idx.manifests[0]);
    expect(entries.get(b.digest)).toBe(idx.manifests[1]);
  });

  it('resolves duplicate tags to the last entry, and validates ref names', () => {
    const idx: LayoutIndex = { schemaVersion: 2, manifests: [named(a, 'v1'), named(b, 'v1')] };
    expect(findTagged(idx, 'v1')).toEqual(b);
    for (const ok of ['v1', 'v1.0-rc.1', 'example.com/foo:v2', 'a--b', 'x@y+z']) expect(isValidRefName(ok)).toBe(true);
    for (const bad of ['', 'a b', '-v1', 'v1/', 'a//b', '../x', 'x'.repeat(1025)])
      expect(isValidRefName(bad)).toBe(false);
  });
});
