import { createRequire } from 'node:module';
import type { Document, LineCounter, Node } from 'yaml';
import { OrasError, type OrasErrorCode } from '../../errors.js';
import type { Issue, PathSegment } from './issues.js';

/**
 * YAML parsing that keeps source positions, and the mapping of validation
 * issues to `file:line:col` messages:
 *
 *     artifacts.yaml:12:5: dependencies.model.path: "/abs" must be relative … (fix: use a path …)
 */

/** A parsed YAML source with what is needed to locate issues in it. */
export interface YamlSource {
  /** The name shown in messages (e.g. `artifacts.yaml`). */
  fileName: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/** A 1-based source position. */
export interface SourcePosition {
  line: number;
  col: number;
}

/** The `yaml` package, loaded on first use (only files outside the canonical fast path need it). */
let yamlModule: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

/** Most aliases a document may expand (guards against "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses YAML text keeping positions. Syntax errors (and duplicate keys) are
 * all reported at once: throws `OrasError(code)` listing `file:line:col: message`.
 * Returns the source and its plain JS value.
 */
export function parseYamlSource(
  text: string,
  fileName: string,
  code: OrasErrorCode,
  hint?: string,
): { source: YamlSource; value: unknown } {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const p = lineCounter.linePos(e.pos[0]);
      return `${fileName}:${p.line}:${p.col}: ${e.message.split('\n')[0]}`;
    });
    throw new OrasError(code, `${fileName} is not valid YAML:\n  ${lines.join('\n  ')}`, {
      hint: hint ?? `fix the YAML syntax in ${fileName}`,
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    throw new OrasError(code, `${fileName}: ${(cause as Error).message}`, {
      cause,
      hint: 'reduce the use of YAML aliases (*ref)',
    });
  }
  return { source: { fileName, doc, lineCounter }, value };
}

function keyMatches(key: unknown, seg: PathSegment): boolean {
  return yaml().isScalar(key) ? String(key.value) === String(seg) : String(key) === String(seg);
}

/**
 * The position of the value (or key, for `target: 'key'` issues) at the
 * issue's path. When the path does not exist (e.g. a missing required key),
 * the position of the deepest existing key on it. Undefined without segments.
 */
export function positionOf(source: YamlSource, issue: Issue): SourcePosition | undefined {
  const segs = issue.segments;
  if (segs === undefined) return undefined;
  let node: unknown = source.doc.contents;
  let lastKey: Node | undefined;
  let range: [number, number, number] | null | undefined = (source.doc.contents as Node | null)?.range;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    const { isMap, isPair, isSeq } = yaml();
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyMatches(p.key, seg));
      if (pair === undefined) break;
      const key = pair.key as Node | null;
      if (last && issue.target === 'key' && key?.range) return pos(source, key.range[0]);
      lastKey = key ?? undefined;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      lastKey = undefined;
    } else break;
    const r = (node as Node | null | undefined)?.range;
    if (r) range = r;
    if (last) {
      if ((isMap(node) || isSeq(node)) && lastKey?.range) return pos(source, lastKey.range[0]);
      if (r) return pos(source, r[0]);
    }
  }
  if (lastKey?.range) return pos(source, lastKey.range[0]);
  return range ? pos(source, range[0]) : undefined;
}

function pos(source: YamlSource, offset: number): SourcePosition {
  return source.lineCounter.linePos(offset);
}

/** `file:line:col: path: message (fix: hint)`; the position part is omitted when unknown. */
export function formatIssue(fileName: string, issue: Issue, position?: SourcePosition): string {
  const where = position ? `${fileName}:${position.line}:${position.col}` : fileName;
  return `${where}: ${issue.path.length > 0 ? `${issue.path}: ` : ''}${issue.message}${issue.hint !== undefined ? ` (fix: ${issue.hint})` : ''}`;
}

/** Formats every issue against `source` (positions when found), sorted by position. */
export function formatIssues(source: YamlSource | { fileName: string }, issues: readonly Issue[]): string[] {
  const located = issues.map((issue, i) => ({ issue, i, p: 'doc' in source ? positionOf(source, issue) : undefined }));
  located.sort((a, b) => (a.p?.line ?? 0) - (b.p?.line ?? 0) || (a.p?.col ?? 0) - (b.p?.col ?? 0) || a.i - b.i);
  return located.map(({ issue, p }) => formatIssue(source.fileName, issue, p));
}

/** An `OrasError(code)` whose message lists every issue (one per line) with positions. */
export function issuesError(
  code: OrasErrorCode,
  source: YamlSource | { fileName: string },
  issues: readonly Issue[],
  hint?: string,
): OrasError {
  const lines = formatIssues(source, issues);
  const n = issues.length;
  const details = {
    file: source.fileName,
    issues: issues.map((issue) => {
      const p = 'doc' in source ? positionOf(source, issue) : undefined;
      return {
        path: issue.path,
        message: issue.message,
        ...(issue.hint !== undefined ? { hint: issue.hint } : {}),
        ...(p !== undefined ? { line: p.line, col: p.col } : {}),
      };
    }),
  };
  return new OrasError(code, `${source.fileName} has ${n} problem${n === 1 ? '' : 's'}:\n  ${lines.join('\n  ')}`, {
    hint:
      hint ??
      (n === 1 && issues[0]?.hint !== undefined ? issues[0].hint : `fix the listed problems in ${source.fileName}`),
    details,
  });
}
