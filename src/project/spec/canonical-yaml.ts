/**
 * A fast reader for the small, canonical subset of YAML that oras-ts itself
 * writes (`serializeLockfile`: block style, 2-space indents, sequences
 * indented under their key, one scalar per line, no anchors, tags, flow
 * collections other than `{}`/`[]`, block scalars or trailing comments).
 *
 * It exists because the lockfile is machine-written and can hold tens of
 * thousands of entries: the `yaml` package's position-keeping Document API
 * costs seconds of CPU and much garbage for such files, while this reader is
 * a single pass over the lines. It never guesses: any construct outside the
 * subset (or any scalar whose YAML 1.2 core-schema meaning it is not certain
 * of) makes it return `undefined`, and the caller parses with the full YAML
 * parser instead (which also produces the `file:line:col` error messages).
 * When it returns a value, that value equals what `yaml`'s
 * `parse(text, { strict: true, uniqueKeys: true })` returns.
 */

/** Thrown internally when the text leaves the canonical subset. */
class NotCanonical extends Error {}

const bail = (): never => {
  throw new NotCanonical();
};

/** Keys written unquoted by {@link stringifyCanonicalYaml} (and accepted in flow mappings). */
const WRITE_KEY = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Mapping keys accepted unquoted (a `:` inside is part of the key, e.g. `localhost:5000`). */
const KEY = /^[A-Za-z0-9_][A-Za-z0-9._:/@-]*$/;
/** A double-quoted key at the start of a line, with what follows it. */
const QUOTED_KEY = /^("(?:[^"\\]|\\.)*")(:.*)?$/;
/**
 * Plain (unquoted) string scalars accepted: no indicator as first character,
 * no flow or comment characters; further checked against {@link NON_STRING}
 * and {@link PLAIN_BREAKS}.
 */
const PLAIN = /^[A-Za-z0-9_/.^~$(<+][A-Za-z0-9_./@:+=^~'()$,!*&%<>?| -]*$/;
/** Sequences that end or break a plain scalar (`: `, ` #`, a trailing `:` or space). */
const PLAIN_BREAKS = /: | #|:$| $/;
/**
 * Plain scalars that YAML (1.2 core, and for good measure 1.1) resolves to
 * something other than a string: null, booleans, numbers, timestamps, merge keys.
 */
const NON_STRING = [
  /^(?:~|[Nn]ull|NULL)?$/,
  /^(?:Y|y|[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON|N|n|[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/,
  /^[-+]?[0-9][0-9_]*$/,
  /^[-+]?0[bBoOxX][0-9a-fA-F_]+$/,
  /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/,
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}/,
  /^<<$/,
];
/** A double-quoted scalar using only escapes that mean the same in JSON and YAML. */
const DOUBLE_QUOTED = /^"(?:[^"\\\u0000-\u001f\u007f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"$/;
/** A single-quoted scalar (`''` is a quote) without control characters. */
const SINGLE_QUOTED = /^'(?:[^'\u0000-\u001f\u007f]|'')*'$/;

const isNonString = (s: string): boolean => NON_STRING.some((re) => re.test(s));

/** Digests: plain strings that no other check would refuse (most scalars of a lock: one test instead of twelve). */
const DIGEST_SCALAR = /^sha(?:256:[0-9a-f]{64}|512:[0-9a-f]{128})$/;

/** Plain keys already checked (a lock repeats a handful of keys thousands of times); bounded. */
const plainKeys = new Set<string>();

/** True when `k` may be written, or read in a flow mapping, as a plain key (see {@link WRITE_KEY}). */
function isPlainKey(k: string): boolean {
  if (plainKeys.has(k)) return true;
  if (!WRITE_KEY.test(k) || isNonString(k)) return false;
  if (plainKeys.size < 1024) plainKeys.add(k);
  return true;
}

function scalar(raw: string): unknown {
  const c = raw.charCodeAt(0);
  if (c === 0x22 /* " */) {
    if (!DOUBLE_QUOTED.test(raw)) bail();
    return JSON.parse(raw) as string;
  }
  if (c === 0x27 /* ' */) {
    if (!SINGLE_QUOTED.test(raw)) bail();
    return raw.slice(1, -1).replace(/''/g, "'");
  }
  if (raw === '{}') return {};
  if (raw === '[]') return [];
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^(?:0|[1-9][0-9]{0,14})$/.test(raw)) return Number(raw);
  if (/^0o[0-7]{1,10}$/.test(raw)) return Number.parseInt(raw.slice(2), 8);
  if (DIGEST_SCALAR.test(raw)) return raw;
  if (!PLAIN.test(raw) || PLAIN_BREAKS.test(raw) || isNonString(raw)) bail();
  return raw;
}

/**
 * Splits `key: value` / `key:` (plain or double-quoted key) into the key and
 * what follows the colon; undefined when the line is not a mapping entry.
 * Bails on keys outside the subset.
 */
function splitKey(text: string): { key: string; rest: string } | undefined {
  if (text.charCodeAt(0) === 0x22 /* " */) {
    const m = QUOTED_KEY.exec(text);
    if (m === null) return bail();
    if (m[2] === undefined) return undefined; // a quoted scalar, not a key
    const key = scalar(m[1]!) as string;
    return { key, rest: m[2].slice(1) };
  }
  const sp = text.indexOf(': ');
  let key: string;
  let rest: string;
  if (sp >= 0) {
    key = text.slice(0, sp);
    rest = text.slice(sp + 1);
  } else if (text.endsWith(':')) {
    key = text.slice(0, -1);
    rest = '';
  } else return undefined;
  if (!KEY.test(key) || key.endsWith(':') || isNonString(key)) bail();
  return { key, rest };
}

interface Line {
  indent: number;
  text: string;
}

/** Characters a plain scalar may not contain inside a flow collection (YAML 1.2 §7.3.3, flow indicators). */
const FLOW_INDICATORS = /[,[\]{}]/;

/**
 * `{ key: value, key: value }` on one line, as {@link stringifyCanonicalYaml}
 * writes {@link CanonicalFlow}: plain keys, scalar values without flow
 * indicators, `, ` between entries. Anything else bails.
 */
function flowMap(text: string): Record<string, unknown> {
  if (!text.startsWith('{ ') || !text.endsWith(' }') || text.length < 5) return bail();
  const obj: Record<string, unknown> = {};
  for (const part of text.slice(2, -2).split(', ')) {
    const sp = part.indexOf(': ');
    if (sp <= 0) return bail();
    const key = part.slice(0, sp);
    const raw = part.slice(sp + 2);
    if (!isPlainKey(key) || key === '__proto__' || Object.prototype.hasOwnProperty.call(obj, key)) bail();
    if (
      raw === '' ||
      raw.charCodeAt(0) === 0x20 ||
      FLOW_INDICATORS.test(raw) ||
      raw.charCodeAt(0) === 0x22 ||
      raw.charCodeAt(0) === 0x27
    )
      bail();
    obj[key] = scalar(raw);
  }
  return obj;
}

/**
 * A lock's file entry as the writer emits it (`{ path: P, size: N, digest: D }`, then `, mode: 0oNNN`
 * when set), its path in a charset no YAML rule reads as anything but a string: one regex instead
 * of a split and the scalar checks per part (a lock lists every file: 10,000 lines for 10,000
 * files). What it leaves out takes {@link flowMap}: paths starting with `e`/`E` (an exponent alone
 * is a float to {@link NON_STRING}) and paths made of letters only (`yes`, `null`), see {@link fileFlow}.
 * Its digest is {@link DIGEST_SCALAR}'s.
 */
const FILE_FLOW = new RegExp(
  `^\\{ path: ([A-DF-Za-df-z_][\\w./-]*), size: (0|[1-9][0-9]{0,14}), digest: (${DIGEST_SCALAR.source.slice(1, -1)})(?:, mode: 0o([0-7]{1,10}))? \\}$`,
);
/** A path with one of these characters is no YAML word (null, booleans and the like are letters only). */
const NOT_A_WORD = /[\d./_-]/;

/** {@link flowMap}'s result for a line matching {@link FILE_FLOW} (the same object), else undefined. */
function fileFlow(text: string): Record<string, unknown> | undefined {
  const m = FILE_FLOW.exec(text);
  if (m === null || !NOT_A_WORD.test(m[1]!)) return undefined;
  const obj: Record<string, unknown> = { path: m[1], size: Number(m[2]), digest: m[3] };
  if (m[4] !== undefined) obj.mode = Number.parseInt(m[4], 8);
  return obj;
}

/**
 * Parses `text` when it lies within the canonical subset described above;
 * returns `undefined` otherwise (the caller must then use the full parser).
 * Full-line comments starting in column 0 and empty lines are skipped.
 */
export function parseCanonicalYaml(text: string): unknown {
  if (text.includes('\r') || text.includes('\t')) return undefined;
  const lines: Line[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.charCodeAt(0) === 0x23 /* # */) continue;
    let indent = 0;
    while (line.charCodeAt(indent) === 0x20) indent++;
    if (indent === line.length) return undefined; // whitespace-only line
    lines.push({ indent, text: indent === 0 ? line : line.slice(indent) });
  }
  if (lines.length === 0) return undefined;
  let i = 0;

  const isSeqItem = (l: Line): boolean => l.text === '-' || l.text.startsWith('- ');

  const node = (indent: number): unknown => {
    const l = lines[i];
    if (l === undefined || l.indent !== indent) return bail();
    return isSeqItem(l) ? seq(indent) : map(indent);
  };

  const map = (indent: number): Record<string, unknown> => {
    const obj: Record<string, unknown> = {};
    for (let l = lines[i]; l !== undefined && l.indent >= indent; l = lines[i]) {
      if (l.indent !== indent || isSeqItem(l)) bail();
      const kv = splitKey(l.text);
      if (kv === undefined) return bail();
      const { key, rest } = kv;
      if (key === '__proto__' || Object.prototype.hasOwnProperty.call(obj, key)) bail();
      i++;
      if (rest === '') {
        const next = lines[i];
        if (next === undefined || next.indent !== indent + 2) bail();
        obj[key] = node(indent + 2);
      } else {
        if (rest.charCodeAt(0) !== 0x20 || rest.length < 2 || rest.charCodeAt(1) === 0x20) bail();
        obj[key] = scalar(rest.slice(1));
      }
    }
    return obj;
  };

  const seq = (indent: number): unknown[] => {
    const arr: unknown[] = [];
    for (let l = lines[i]; l !== undefined && l.indent >= indent; l = lines[i]) {
      if (l.indent !== indent || !isSeqItem(l) || l.text.length < 3 || l.text.charCodeAt(2) === 0x20) bail();
      const rest = l.text.slice(2);
      if (rest.charCodeAt(0) === 0x7b /* { */ && rest !== '{}') {
        i++;
        arr.push(fileFlow(rest) ?? flowMap(rest));
      } else if (splitKey(rest) !== undefined) {
        // `- key: value`: a mapping whose further entries sit at indent + 2.
        lines[i] = { indent: indent + 2, text: rest };
        arr.push(map(indent + 2));
      } else {
        if (isSeqItem({ indent: 0, text: rest })) bail();
        i++;
        arr.push(scalar(rest));
      }
    }
    return arr;
  };

  try {
    if (lines[0]!.indent !== 0 || isSeqItem(lines[0]!)) return undefined;
    const value = map(0);
    return i === lines.length ? value : undefined;
  } catch (err) {
    if (err instanceof NotCanonical) return undefined;
    throw err;
  }
}

/** An integer written in YAML octal notation (`0o755`) by {@link stringifyCanonicalYaml}. */
export class CanonicalOctal {
  constructor(readonly value: number) {}
}

/**
 * A mapping of scalars written on one line in flow style
 * (`- { path: a.json, size: 3, digest: sha256:… }`) by
 * {@link stringifyCanonicalYaml}: used for the lock's per-file entries, one
 * line each, so a changed file is a one-line diff.
 */
export class CanonicalFlow {
  constructor(readonly entries: Record<string, unknown>) {}
}

/**
 * A sequence of {@link CanonicalFlow} lines whose flows are made one at a time, as each line is
 * written (`flow(item)`): a lock lists every file, and 20,000 flow objects made up front and
 * held until the whole text existed were most of the memory a large lock's writing took.
 */
export class CanonicalFlowList<T> {
  /**
   * @param line - optional: an item's line text when it is a lock file line ({@link fileLineText}),
   *   else undefined (then `flow`'s); skips the flow object for the common line.
   */
  constructor(
    readonly items: readonly T[],
    readonly flow: (item: T) => CanonicalFlow,
    readonly line?: (item: T) => string | undefined,
  ) {}
}

function writeScalar(v: unknown): string {
  if (typeof v === 'string') {
    if (DIGEST_SCALAR.test(v)) return v;
    if (!PLAIN.test(v) || PLAIN_BREAKS.test(v) || isNonString(v)) bail();
    return v;
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) bail();
    return String(v);
  }
  if (v instanceof CanonicalOctal) {
    if (!Number.isSafeInteger(v.value) || v.value < 0) bail();
    return `0o${v.value.toString(8)}`;
  }
  return bail();
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof CanonicalOctal) &&
  !(v instanceof CanonicalFlow) &&
  !(v instanceof CanonicalFlowList);

/** {@link FILE_FLOW}'s path group, alone. */
const FILE_PATH = /^[A-DF-Za-df-z_][\w./-]*$/;

/**
 * A lock file line's flow text (`{ path: P, size: N, digest: D }`, then `, mode: 0oM` when `mode`
 * is given) when {@link FILE_FLOW} reads it back as these values (and {@link NOT_A_WORD} holds),
 * else undefined. It checks the parts instead of matching the whole text: the regex's groups are
 * separated by fixed text that no group's characters can contain, so the text matches exactly when
 * each part does (a test compares both); a lock writes one line per file.
 */
export function fileLineText(path: string, size: number, digest: string, mode?: number): string | undefined {
  if (
    !FILE_PATH.test(path) ||
    !NOT_A_WORD.test(path) ||
    !Number.isInteger(size) ||
    size < 0 ||
    size >= 1e15 ||
    !DIGEST_SCALAR.test(digest) ||
    (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode >= 8 ** 10))
  )
    return undefined;
  const tail = mode !== undefined ? `, mode: 0o${mode.toString(8)}` : '';
  return `{ path: ${path}, size: ${size}, digest: ${digest}${tail} }`;
}

/**
 * {@link writeFlow}'s text for a lock's file entry (`path`, `size`, `digest`, then `mode` when set)
 * when {@link FILE_FLOW} reads it back ({@link fileLineText}): the same text as the general
 * writer, without its checks per part. Undefined for anything else.
 */
function fileFlowText(e: Record<string, unknown>): string | undefined {
  const keys = Object.keys(e);
  const { path, size, digest, mode } = e;
  if (
    (keys.length !== 3 && (keys.length !== 4 || keys[3] !== 'mode' || !(mode instanceof CanonicalOctal))) ||
    keys[0] !== 'path' ||
    keys[1] !== 'size' ||
    keys[2] !== 'digest' ||
    typeof path !== 'string' ||
    typeof size !== 'number' ||
    typeof digest !== 'string'
  )
    return undefined;
  return fileLineText(path, size, digest, mode instanceof CanonicalOctal ? mode.value : undefined);
}

function writeFlow(flow: CanonicalFlow): string {
  const fast = fileFlowText(flow.entries);
  if (fast !== undefined) return fast;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(flow.entries)) {
    if (v === undefined) continue;
    if (!isPlainKey(k)) bail();
    const s = writeScalar(v);
    if (FLOW_INDICATORS.test(s)) bail();
    parts.push(`${k}: ${s}`);
  }
  if (parts.length === 0) bail();
  return `{ ${parts.join(', ')} }`;
}

/** Receives the written text one line at a time, without its newline. */
type LineSink = (line: string) => void;

function writeMap(obj: Record<string, unknown>, indent: number, out: LineSink, firstPrefix?: string): void {
  const pad = ' '.repeat(indent);
  let first = true;
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (!isPlainKey(k)) bail();
    const lead = first && firstPrefix !== undefined ? firstPrefix : pad;
    first = false;
    if (Array.isArray(v) || v instanceof CanonicalFlowList) {
      const length = Array.isArray(v) ? v.length : (v as CanonicalFlowList<unknown>).items.length;
      if (length === 0) out(`${lead}${k}: []`);
      else {
        out(`${lead}${k}:`);
        if (Array.isArray(v)) writeSeq(v, indent + 2, out);
        else writeFlowList(v as CanonicalFlowList<unknown>, indent + 2, out);
      }
    } else if (isPlainObject(v)) {
      if (Object.keys(v).length === 0) out(`${lead}${k}: {}`);
      else {
        out(`${lead}${k}:`);
        writeMap(v, indent + 2, out);
      }
    } else out(`${lead}${k}: ${writeScalar(v)}`);
  }
}

function writeSeq(arr: unknown[], indent: number, out: LineSink): void {
  const pad = ' '.repeat(indent);
  for (const item of arr) {
    if (Array.isArray(item) || item instanceof CanonicalFlowList) bail();
    if (item instanceof CanonicalFlow) out(`${pad}- ${writeFlow(item)}`);
    else if (isPlainObject(item)) {
      if (Object.keys(item).length === 0) bail();
      writeMap(item, indent + 2, out, `${pad}- `);
    } else out(`${pad}- ${writeScalar(item)}`);
  }
}

function writeFlowList(list: CanonicalFlowList<unknown>, indent: number, out: LineSink): void {
  const lead = `${' '.repeat(indent)}- `;
  const line = list.line;
  for (const item of list.items)
    out(lead + ((line !== undefined ? line(item) : undefined) ?? writeFlow(list.flow(item))));
}

/**
 * Writes a mapping of mappings, sequences and scalars as block YAML in the
 * canonical subset (2-space indents, sequences indented under their key,
 * `{}`/`[]` for empty collections, {@link CanonicalOctal} as `0o…`,
 * {@link CanonicalFlow} as a one-line `{ k: v, … }` sequence item, a
 * {@link CanonicalFlowList} as a sequence of those) — the same text
 * `yaml.stringify(value, { indent: 2, indentSeq: true, lineWidth: 0 })`
 * produces — or returns `undefined` when a key or scalar would need quoting
 * or anything else falls outside the subset (the caller then uses `yaml`).
 * `undefined` values are skipped.
 */
export function stringifyCanonicalYaml(value: Record<string, unknown>): string | undefined {
  const out: string[] = [];
  return writeCanonicalYaml(value, (line) => out.push(line)) ? `${out.join('\n')}\n` : undefined;
}

/**
 * {@link stringifyCanonicalYaml}'s text handed to `emit` one line at a time (without newlines), so
 * that a large document can be written out without ever existing whole. Returns false when the
 * value falls outside the subset; the lines emitted until then must be discarded.
 */
export function writeCanonicalYaml(value: Record<string, unknown>, emit: (line: string) => void): boolean {
  try {
    if (Object.keys(value).length === 0) return false;
    writeMap(value, 0, emit);
    return true;
  } catch (err) {
    if (err instanceof NotCanonical) return false;
    throw err;
  }
}
