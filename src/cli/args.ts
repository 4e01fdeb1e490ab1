import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isDigest } from '../oci/digest.js';
import { isValidTag } from '../oci/reference.js';
import { usageError } from './errors.js';

/**
 * Pure parsers for CLI argument syntaxes shared by several commands.
 */

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$/;

/** True when `s` looks like a media type (`type/subtype[+suffix][;params]`). */
export function looksLikeMediaType(s: string): boolean {
  return MEDIA_TYPE_RE.test(s);
}

/**
 * Splits a `FILE[:MEDIATYPE]` argument at the LAST colon, like oras 1.3 on
 * Unix (cmd/oras/internal/fileref): `a.txt:mytype` is `a.txt` with media type
 * `mytype` (no `/` needed); `a.txt:` is `a.txt` with the default type.
 * Kept whole: `C:\dir\f.txt` (a Windows drive), and — unlike oras — an
 * argument that names an existing file while the part before the colon does
 * not (`exists`, default `existsSync`), so `a:b.txt` on disk still pushes.
 */
export function splitFileArg(
  arg: string,
  exists: (p: string) => boolean = existsSync,
): { path: string; mediaType?: string } {
  const colon = arg.lastIndexOf(':');
  if (colon <= 0) return { path: arg };
  const rest = arg.slice(colon + 1);
  const path = arg.slice(0, colon);
  if (colon === 1 && /^[A-Za-z]$/.test(arg[0] ?? '') && /^[\\/]/.test(rest)) return { path: arg };
  if (exists(arg) && !exists(path)) return { path: arg };
  if (rest === '') return { path };
  return { path, mediaType: rest };
}

/**
 * Splits an `--oci-layout` reference `DIR[:tag|@digest]`. The tag is taken
 * after the last colon when it is a valid tag and the directory part is not a
 * bare Windows drive letter.
 */
export function splitLayoutRef(arg: string): { dir: string; tag?: string; digest?: string } {
  const at = arg.lastIndexOf('@');
  if (at > 0 && isDigest(arg.slice(at + 1))) return { dir: arg.slice(0, at), digest: arg.slice(at + 1) };
  const colon = arg.lastIndexOf(':');
  if (colon > 0) {
    const tag = arg.slice(colon + 1);
    const dir = arg.slice(0, colon);
    if (isValidTag(tag) && !/^[A-Za-z]$/.test(dir)) return { dir, tag };
  }
  return { dir: arg };
}

/**
 * Splits `REF[,TAG...]` (push/manifest push/cp destination): the first item
 * is the reference, the rest are extra tags.
 */
export function splitRefTags(arg: string): { ref: string; extraTags: string[] } {
  // A digest never contains a comma, and a tag cannot either, so a plain split works.
  const parts = arg.split(',').map((s) => s.trim());
  const ref = parts.shift() ?? '';
  const extraTags = parts.filter((t) => t.length > 0);
  for (const t of extraTags)
    if (!isValidTag(t))
      throw usageError(
        `invalid tag ${JSON.stringify(t)} in ${JSON.stringify(arg)}`,
        'tags must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}',
      );
  return { ref, extraTags };
}

/** Parses repeated `-H 'Name: value'` flags into a header object. */
export function parseHeaders(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const v of values ?? []) {
    const colon = v.indexOf(':');
    if (colon <= 0) throw usageError(`invalid header ${JSON.stringify(v)}`, "use -H 'Name: value'");
    const name = v.slice(0, colon).trim();
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw usageError(`invalid header name ${JSON.stringify(name)}`);
    headers[name] = v.slice(colon + 1).trim();
  }
  return headers;
}

/** Parses repeated `-a key=value` flags. */
export function parseAnnotations(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    // oras 1.3 (option/annotation.go) wording.
    if (eq <= 0)
      throw usageError(
        `annotation value doesn't match the required format: ${JSON.stringify(v)}`,
        'Please use the correct format in the flag: --annotation "key=value"',
      );
    const key = v.slice(0, eq);
    if (key in out) throw usageError(`duplicate annotation key ${JSON.stringify(key)}`);
    out[key] = v.slice(eq + 1);
  }
  return out;
}

/**
 * Reads an `--annotation-file`: a JSON object whose keys are file names (or
 * `$manifest`, `$config`) and whose values are string→string maps.
 */
export async function readAnnotationFile(path: string): Promise<Record<string, Record<string, string>>> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw usageError(
      `cannot read annotation file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      'the file must be JSON: {"$manifest": {"key": "value"}, "file.txt": {...}}',
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw usageError(`annotation file ${path} is not a JSON object`);
  const out: Record<string, Record<string, string>> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw usageError(`annotation file ${path}: "${k}" must map to an object`);
    const m: Record<string, string> = {};
    for (const [ak, av] of Object.entries(v as Record<string, unknown>)) {
      if (typeof av !== 'string') throw usageError(`annotation file ${path}: "${k}"."${ak}" must be a string`);
      m[ak] = av;
    }
    out[k] = m;
  }
  return out;
}

/** Commander argument parser for a positive integer option. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw usageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Parses repeated `--resolve host:port:address[:address_port]` (oras 1.3
 * option/remote.go `parseResolve`: split into at most four parts at `:`, the
 * address an IP literal) into a map from `host:port` to the address to dial.
 */
export function parseResolve(values: string[] | undefined): Map<string, { address: string; port: number }> {
  const map = new Map<string, { address: string; port: number }>();
  for (const r of values ?? []) {
    const fail = (message: string): never => {
      throw usageError(
        `failed to parse resolve flag ${JSON.stringify(r)}: ${message}`,
        'e.g. --resolve registry.example:443:127.0.0.1',
      );
    };
    const [host = '', hostPort = '', address = '', ...rest] = r.split(':');
    const addressPort = rest.length > 0 ? rest.join(':') : undefined;
    if (r.split(':').length < 3) fail('expecting host:port:address[:address_port]');
    const port = /^\d+$/.test(hostPort) ? Number(hostPort) : fail('expecting uint64 host port');
    if (isIP(address) === 0) fail('invalid IP address');
    const toPort =
      addressPort === undefined
        ? port
        : /^\d+$/.test(addressPort)
          ? Number(addressPort)
          : fail('expecting uint64 address port');
    map.set(`${host.toLowerCase()}:${port}`, { address, port: toPort });
  }
  return map;
}
