/**
 * The Go encoding/json rules `manifest index create|update` follow (see src/cli/index-json.ts).
 * Expected strings are what Go's json.Marshal / json.Indent print for image-spec v1.1.1's structs.
 */
import { describe, expect, it } from 'vitest';
import { encodeIndex, goIndent, goJsonString, isValidMediaType, platformFromConfig } from '../../src/cli/index-json.js';

describe('index-json', () => {
  it('escapes strings like Go (HTML-safe, U+2028/9)', () => {
    expect(goJsonString('a<b>&c\u2028"\n')).toBe('"a\\u003cb\\u003e\\u0026c\\u2028\\"\\n"');
  });

  it('encodes Index/Descriptor/Platform in struct order, dropping unknown and empty fields', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const bytes = encodeIndex({
      annotations: { z: '1', a: '2' },
      manifests: [
        {
          artifactType: '',
          platform: { variant: 'v8', os: 'linux', architecture: 'arm64', 'os.features': [] },
          size: 3,
          digest,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          urls: [],
          ...({ unknown: true } as object),
        },
      ],
      mediaType: 'application/vnd.oci.image.index.v1+json',
      schemaVersion: 2,
    });
    expect(bytes.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${digest}","size":3,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}],"annotations":{"a":"2","z":"1"}}`,
    );
  });

  it('indents like json.Indent (escapes kept, empty containers on one line)', () => {
    expect(goIndent('{"a":[],"b":{},"c":["x\\u003c,:",1]}')).toBe(
      '{\n  "a": [],\n  "b": {},\n  "c": [\n    "x\\u003c,:",\n    1\n  ]\n}',
    );
  });

  it('reads a platform from a config as Go decodes it into ocispec.Platform', () => {
    expect(platformFromConfig(Buffer.from('{"OS":"linux","architecture":"amd64","rootfs":{}}'))).toEqual({
      architecture: 'amd64',
      os: 'linux',
    });
    expect(platformFromConfig(Buffer.from('{}'))).toBeUndefined();
    expect(platformFromConfig(Buffer.from('not json'))).toBeUndefined();
    expect(platformFromConfig(Buffer.from('{"os":"linux","architecture":5}'))).toBeUndefined();
    expect(platformFromConfig(Buffer.from('{"os":"windows","architecture":"amd64","os.version":"10.0"}'))).toEqual({
      architecture: 'amd64',
      os: 'windows',
      'os.version': '10.0',
    });
  });

  it('checks media types with the image-spec pattern', () => {
    expect(isValidMediaType('application/vnd.example+type')).toBe(true);
    expect(isValidMediaType('invalid')).toBe(false);
  });
});
