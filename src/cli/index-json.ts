import type { Descriptor, ImageIndex, Platform } from '../oci/descriptor.js';

/**
 * Image index documents byte-for-byte as oras 1.3 writes them
 * (`manifest index create|update`, cmd/oras/root/manifest/index): Go's
 * `encoding/json` over image-spec v1.1.1's `Index`, `Descriptor` and
 * `Platform` structs. That fixes the key order (struct order, not input
 * order), drops unknown keys, omits empty optional fields, sorts map keys and
 * HTML-escapes `<`, `>`, `&` (and U+2028/U+2029) in strings — so the same
 * inputs give the same digest as oras.
 * https://github.com/opencontainers/image-spec/blob/v1.1.1/image-index.md
 */

/** The largest config read for its platform (oras 1.3 `maxConfigSize`, 4 MiB). */
export const MAX_PLATFORM_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * oras 1.3's media type syntax check (image-spec `defs-descriptor.json`
 * `mediaType` pattern), used for `--artifact-type`.
 */
export function isValidMediaType(mediaType: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(mediaType);
}

/** A string as Go's `json.Marshal` writes it (HTML-safe escaping). */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function goStringMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort();
  return `{${keys.map((k) => `${goJsonString(k)}:${goJsonString(m[k] ?? '')}`).join(',')}}`;
}

function goStrings(a: string[]): string {
  return `[${a.map(goJsonString).join(',')}]`;
}

/** Appends `"key":value` when `value` is set (Go's `omitempty`: empty strings, arrays and maps are left out). */
function field(parts: string[], key: string, value: string | undefined): void {
  if (value !== undefined) parts.push(`${goJsonString(key)}:${value}`);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : goJsonString(s);
}

function nonEmptyArray(a: string[] | undefined): string | undefined {
  return a === undefined || a.length === 0 ? undefined : goStrings(a);
}

function nonEmptyMap(m: Record<string, string> | undefined): string | undefined {
  return m === undefined || Object.keys(m).length === 0 ? undefined : goStringMap(m);
}

/** image-spec v1.1.1 `Platform`: architecture, os, os.version, os.features, variant. */
export function encodePlatform(p: Platform): string {
  const parts: string[] = [];
  field(parts, 'architecture', goJsonString(p.architecture));
  field(parts, 'os', goJsonString(p.os));
  field(parts, 'os.version', nonEmpty(p['os.version']));
  field(parts, 'os.features', nonEmptyArray(p['os.features']));
  field(parts, 'variant', nonEmpty(p.variant));
  return `{${parts.join(',')}}`;
}

/** image-spec v1.1.1 `Descriptor`: mediaType, digest, size, urls, annotations, data, platform, artifactType. */
export function encodeDescriptor(d: Descriptor): string {
  const parts: string[] = [];
  field(parts, 'mediaType', goJsonString(d.mediaType));
  field(parts, 'digest', goJsonString(d.digest));
  field(parts, 'size', String(d.size));
  field(parts, 'urls', nonEmptyArray(d.urls));
  field(parts, 'annotations', nonEmptyMap(d.annotations));
  field(parts, 'data', nonEmpty(d.data));
  field(parts, 'platform', d.platform !== undefined ? encodePlatform(d.platform) : undefined);
  field(parts, 'artifactType', nonEmpty(d.artifactType));
  return `{${parts.join(',')}}`;
}

/** image-spec v1.1.1 `Index`: schemaVersion, mediaType, artifactType, manifests (never omitted), subject, annotations. */
export function encodeIndex(index: ImageIndex): Buffer {
  const parts: string[] = [];
  field(parts, 'schemaVersion', String(index.schemaVersion));
  field(parts, 'mediaType', nonEmpty(index.mediaType));
  field(parts, 'artifactType', nonEmpty(index.artifactType));
  field(parts, 'manifests', `[${index.manifests.map(encodeDescriptor).join(',')}]`);
  field(parts, 'subject', index.subject !== undefined ? encodeDescriptor(index.subject) : undefined);
  field(parts, 'annotations', nonEmptyMap(index.annotations));
  return Buffer.from(`{${parts.join(',')}}`);
}

/** The value of `key` in `obj` as Go's decoder finds it: the exact key, else a case-insensitive match. */
function goLookup(obj: Record<string, unknown>, key: string): unknown {
  if (key in obj) return obj[key];
  const k = Object.keys(obj).find((o) => o.toLowerCase() === key);
  return k === undefined ? undefined : obj[k];
}

/**
 * The platform of an image config, as oras 1.3 reads it (`getPlatform` in
 * index/create.go): the config decoded into a `Platform`; none when it is not
 * JSON, a field has the wrong type, or both `architecture` and `os` are empty.
 * The config's media type is not checked (any JSON config with those fields counts).
 */
export function platformFromConfig(config: Uint8Array): Platform | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(config).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  const str = (k: string): string | undefined | false => {
    const v = goLookup(o, k);
    return v === undefined || v === null ? undefined : typeof v === 'string' ? v : false;
  };
  const arch = str('architecture');
  const os = str('os');
  const osVersion = str('os.version');
  const variant = str('variant');
  const features = goLookup(o, 'os.features');
  if (arch === false || os === false || osVersion === false || variant === false) return undefined;
  if (
    features !== undefined &&
    features !== null &&
    !(Array.isArray(features) && features.every((f) => typeof f === 'string'))
  )
    return undefined;
  if ((arch ?? '') === '' && (os ?? '') === '') return undefined;
  return {
    architecture: arch ?? '',
    os: os ?? '',
    ...(osVersion !== undefined && osVersion !== '' ? { 'os.version': osVersion } : {}),
    ...(Array.isArray(features) && features.length > 0 ? { 'os.features': features as string[] } : {}),
    ...(variant !== undefined && variant !== '' ? { variant } : {}),
  };
}

/**
 * Removes every entry whose digest is in `digests` (oras 1.3
 * `doRemoveManifests`). Returns the kept entries, or the first digest that
 * matched no entry.
 */
export function removeDigests(
  manifests: Descriptor[],
  digests: string[],
): { kept: Descriptor[] } | { missing: string } {
  const wanted = new Set(digests);
  const found = new Set<string>();
  const kept = manifests.filter((m) => {
    if (!wanted.has(m.digest)) return true;
    found.add(m.digest);
    return false;
  });
  const missing = digests.find((d) => !found.has(d));
  return missing === undefined ? { kept } : { missing };
}

/**
 * Go's `json.Indent(dst, compact, "", "  ")` over compact JSON: escapes are
 * kept as written (unlike a parse + stringify round trip) and empty `{}`/`[]`
 * stay on one line.
 */
export function goIndent(compact: string): string {
  let out = '';
  let depth = 0;
  let inString = false;
  const newline = (): string => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i] ?? '';
    if (inString) {
      out += c;
      if (c === '\\') out += compact[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      if (compact[i + 1] === close) {
        out += c + close;
        i++;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') out += `,${newline()}`;
    else if (c === ':') out += ': ';
    else if (c.trim() !== '') out += c;
  }
  return out;
}
