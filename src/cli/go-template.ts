import { OrasError } from '../errors.js';
import { goValueString, goPrintf, truthy } from './go-template-values.js';

/**
 * A small evaluator for the subset of Go's `text/template` that scripts pass
 * to `oras … --format go-template=TEMPLATE` (oras 1.3 runs the template over
 * the JSON document of the result, decoded into maps, with sprig functions).
 *
 * Supported: text and `{{ action }}` with `{{-`/`-}}` trimming and
 * `{{/* comments *\/}}`; pipelines (`a | b`), parenthesised pipelines, fields
 * (`.`, `.a.b`, `$`, `$v.a`), string/raw-string/number/bool/nil literals,
 * variables (`$x := …`, `$x = …`, `range $i, $e := …`), `if`/`else if`/
 * `else`, `range`/`else`, `with`/`else`, `end`; the functions listed in
 * {@link FUNCS} (Go builtins plus the sprig functions scripts use, e.g.
 * `toJson`). Anything else (`define`, `template`, `block`, `break`, unknown
 * functions) fails with `ERR_ORAS_USAGE` naming the construct, before output.
 *
 * Output matches Go's for values decoded from JSON: numbers are float64 in
 * Go, so `{{.size}}` of 1234567 prints `1.234567e+06` exactly like oras.
 */

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with'; pipe: Pipe; then: Node[]; else: Node[] }
  | { kind: 'range'; pipe: Pipe; then: Node[]; else: Node[] };

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
}

type Arg =
  | { kind: 'field'; base: 'dot' | string; path: string[] }
  | { kind: 'func'; name: string }
  | { kind: 'lit'; value: unknown }
  | { kind: 'pipe'; pipe: Pipe; path: string[] };

/** Function table: Go builtins and the sprig subset. */
type Fn = (...args: unknown[]) => unknown;

function templateError(message: string): OrasError {
  return new OrasError('ERR_ORAS_USAGE', `template: ${message}`, {
    hint: 'see https://pkg.go.dev/text/template; supported: fields, pipelines, if/else, range, with, variables, and the functions index, len, printf, print, println, not, and, or, eq, ne, lt, le, gt, ge, toJson, toPrettyJson, toRawJson, join, upper, lower, trim, default, quote, …',
  });
}

// ---------------------------------------------------------------- lexer

/** Splits the template into text and action sources, applying `{{-` / `-}}` trimming. */
function splitActions(src: string): { text?: string; action?: string }[] {
  const out: { text?: string; action?: string }[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      out.push({ text });
      break;
    }
    let inner = open + 2;
    const trimLeft = /^-[ \t\r\n]/.test(src.slice(inner, inner + 2));
    if (trimLeft) {
      text = text.replace(/[ \t\r\n]+$/, '');
      inner += 1;
    }
    out.push({ text });
    const close = findClose(src, inner);
    if (close < 0) throw templateError('unclosed action');
    let end = close;
    trimNext = /[ \t\r\n]-$/.test(src.slice(close - 2, close));
    if (trimNext) end = close - 1;
    out.push({ action: src.slice(inner, end).trim() });
    i = close + 2;
  }
  return out.filter((p) => p.action !== undefined || (p.text ?? '') !== '');
}

/** Index of the `}}` closing an action starting at `from` (skipping quoted strings and comments). */
function findClose(src: string, from: number): number {
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (c === '"') {
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\') i++;
        i++;
      }
      continue;
    }
    if (c === '`' || c === "'") {
      const q = c;
      i++;
      while (i < src.length && src[i] !== q) i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const e = src.indexOf('*/', i + 2);
      if (e < 0) return -1;
      i = e + 1;
      continue;
    }
    if (c === '}' && src[i + 1] === '}') return i;
  }
  return -1;
}

type Tok =
  | { t: 'field'; v: string }
  | { t: 'var'; v: string }
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'op'; v: string };

function tokenize(action: string): Tok[] {
  const toks: Tok[] = [];
  const re =
    /\s+|(\.[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)|(\$[\w]*(?:\.[A-Za-z_][\w]*)*)|(:=|=|\||\(|\)|,)|("(?:[^"\\]|\\.)*")|(`[^`]*`)|('(?:[^'\\]|\\.)')|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|([A-Za-z_][\w]*)|(\.)/y;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < action.length) {
    const at = re.lastIndex;
    m = re.exec(action);
    if (m === null) throw templateError(`unexpected ${JSON.stringify(action.slice(at, at + 10))} in {{${action}}}`);
    if (m[1] !== undefined) toks.push({ t: 'field', v: m[1] });
    else if (m[2] !== undefined) toks.push({ t: 'var', v: m[2] });
    else if (m[3] !== undefined) toks.push({ t: 'op', v: m[3] });
    else if (m[4] !== undefined) toks.push({ t: 'str', v: JSON.parse(m[4].replace(/\\'/g, "'")) as string });
    else if (m[5] !== undefined) toks.push({ t: 'str', v: m[5].slice(1, -1) });
    else if (m[6] !== undefined)
      toks.push({ t: 'num', v: (JSON.parse(`"${m[6].slice(1, -1)}"`) as string).codePointAt(0) ?? 0 });
    else if (m[7] !== undefined) toks.push({ t: 'num', v: Number(m[7]) });
    else if (m[8] !== undefined) toks.push({ t: 'ident', v: m[8] });
    else if (m[9] !== undefined) toks.push({ t: 'field', v: '.' });
  }
  return toks;
}

// ---------------------------------------------------------------- parser

class PipeParser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}

  parse(): Pipe {
    const pipe = this.pipe();
    if (this.i < this.toks.length)
      throw templateError(`unexpected ${JSON.stringify(this.peek()?.v)} in {{${this.src}}}`);
    return pipe;
  }

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  private pipe(): Pipe {
    const decl: string[] = [];
    let assign = false;
    // `$x :=`, `$x =`, `$i, $e :=`
    const save = this.i;
    for (let tok = this.peek(); tok?.t === 'var' && !tok.v.includes('.'); tok = this.peek()) {
      decl.push(tok.v);
      this.i++;
      const op = this.peek();
      if (op?.t === 'op' && op.v === ',') {
        this.i++;
        continue;
      }
      if (op?.t === 'op' && (op.v === ':=' || op.v === '=')) {
        assign = op.v === '=';
        this.i++;
        break;
      }
      decl.length = 0;
      this.i = save;
      break;
    }
    const cmds: Arg[][] = [this.command()];
    while (this.peek()?.t === 'op' && this.peek()?.v === '|') {
      this.i++;
      cmds.push(this.command());
    }
    return { decl, assign, cmds };
  }

  private command(): Arg[] {
    const args: Arg[] = [];
    for (
      let tok = this.peek();
      tok !== undefined && !(tok.t === 'op' && (tok.v === '|' || tok.v === ')'));
      tok = this.peek()
    ) {
      args.push(this.operand());
    }
    if (args.length === 0) throw templateError(`missing value in {{${this.src}}}`);
    return args;
  }

  private operand(): Arg {
    const tok = this.toks[this.i++]!;
    switch (tok.t) {
      case 'field':
        return { kind: 'field', base: 'dot', path: tok.v === '.' ? [] : tok.v.slice(1).split('.') };
      case 'var': {
        const [name = '$', ...path] = tok.v.split('.');
        return { kind: 'field', base: name, path };
      }
      case 'str':
      case 'num':
        return { kind: 'lit', value: tok.v };
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') return { kind: 'lit', value: tok.v === 'true' };
        if (tok.v === 'nil') return { kind: 'lit', value: null };
        if (!(tok.v in FUNCS)) throw templateError(`function ${JSON.stringify(tok.v)} not defined`);
        return { kind: 'func', name: tok.v };
      case 'op':
        if (tok.v === '(') {
          const pipe = this.pipe();
          const close = this.toks[this.i++];
          if (close?.t !== 'op' || close.v !== ')') throw templateError(`unclosed ( in {{${this.src}}}`);
          const next = this.peek();
          // `(pipeline).field`
          const path = next?.t === 'field' && next.v !== '.' ? (this.i++, next.v.slice(1).split('.')) : [];
          return { kind: 'pipe', pipe, path };
        }
        throw templateError(`unexpected ${JSON.stringify(tok.v)} in {{${this.src}}}`);
    }
  }
}

const UNSUPPORTED = new Set(['define', 'template', 'block', 'break', 'continue']);

/** Parses a template into a node tree (throws `ERR_ORAS_USAGE` on unsupported or malformed syntax). */
export function parseGoTemplate(src: string): Node[] {
  const parts = splitActions(src);
  let pos = 0;
  const parsePipe = (s: string): Pipe => new PipeParser(tokenize(s), s).parse();
  const list = (stops: string[]): { nodes: Node[]; stop: string; rest: string } => {
    const nodes: Node[] = [];
    while (pos < parts.length) {
      const part = parts[pos++]!;
      if (part.action === undefined) {
        nodes.push({ kind: 'text', text: part.text ?? '' });
        continue;
      }
      const a = part.action;
      if (a.startsWith('/*')) continue;
      const word = /^[a-z]+\b/.exec(a)?.[0] ?? '';
      if (stops.includes(word)) return { nodes, stop: word, rest: a.slice(word.length).trim() };
      if (UNSUPPORTED.has(word)) throw templateError(`{{${word}}} is not supported by oras-ts`);
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(block(word, a.slice(word.length).trim()));
      else if (word === 'end' || word === 'else') throw templateError(`unexpected {{${word}}}`);
      else nodes.push({ kind: 'action', pipe: parsePipe(a) });
    }
    if (stops.length > 0) throw templateError(`unexpected EOF: missing {{end}}`);
    return { nodes, stop: '', rest: '' };
  };
  const block = (kind: 'if' | 'with' | 'range', head: string): Node => {
    const pipe = parsePipe(head);
    const body = list(['else', 'end']);
    let elseNodes: Node[] = [];
    if (body.stop === 'else') {
      const chained = /^(if|with)\b/.exec(body.rest);
      if (chained !== null && kind !== 'range') {
        // `{{else if …}}` is `{{else}}{{if …}}…{{end}}` sharing the outer {{end}}.
        elseNodes = [block(chained[1] as 'if' | 'with', body.rest.slice(chained[1]!.length).trim())];
        return { kind, pipe, then: body.nodes, else: elseNodes };
      }
      if (body.rest !== '') throw templateError(`unexpected {{else ${body.rest}}}`);
      const tail = list(['end']);
      elseNodes = tail.nodes;
    }
    return { kind, pipe, then: body.nodes, else: elseNodes };
  };
  return list([]).nodes;
}

// ---------------------------------------------------------------- evaluation

class Scope {
  private readonly vars: Map<string, unknown>[] = [new Map()];
  constructor(root: unknown) {
    this.vars[0]!.set('$', root);
  }
  push(): void {
    this.vars.push(new Map());
  }
  pop(): void {
    this.vars.pop();
  }
  declare(name: string, v: unknown): void {
    this.vars[this.vars.length - 1]!.set(name, v);
  }
  assign(name: string, v: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--)
      if (this.vars[i]!.has(name)) {
        this.vars[i]!.set(name, v);
        return;
      }
    throw templateError(`undefined variable: ${name}`);
  }
  get(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.has(name)) return this.vars[i]!.get(name);
    throw templateError(`undefined variable: ${name}`);
  }
}

/** Marker for "no value" (a missing map key): prints `<no value>` like Go. */
export const NO_VALUE = Symbol('no value');

function walkPath(v: unknown, path: string[]): unknown {
  for (const key of path) {
    if (v === null || v === undefined || v === NO_VALUE)
      throw templateError(`nil pointer evaluating interface {}.${key}`);
    if (typeof v !== 'object' || Array.isArray(v))
      throw templateError(`can't evaluate field ${key} in type ${Array.isArray(v) ? '[]interface {}' : typeof v}`);
    v = Object.prototype.hasOwnProperty.call(v, key) ? (v as Record<string, unknown>)[key] : NO_VALUE;
  }
  return v;
}

function evalArg(a: Arg, dot: unknown, scope: Scope, final: unknown[] | undefined): unknown {
  switch (a.kind) {
    case 'lit':
      return a.value;
    case 'field':
      return walkPath(a.base === 'dot' ? dot : scope.get(a.base), a.path);
    case 'pipe':
      return walkPath(evalPipe(a.pipe, dot, scope), a.path);
    case 'func':
      return FUNCS[a.name]!(...(final ?? []));
  }
}

function evalCommand(cmd: Arg[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
  const [head, ...rest] = cmd;
  if (head?.kind === 'func') {
    const args = [...rest.map((r) => evalArg(r, dot, scope, undefined)), ...piped];
    return evalArg(head, dot, scope, args);
  }
  if (rest.length > 0 || piped.length > 0) throw templateError("can't give argument to non-function");
  return evalArg(head!, dot, scope, undefined);
}

function evalPipe(p: Pipe, dot: unknown, scope: Scope): unknown {
  let value: unknown;
  p.cmds.forEach((c, i) => {
    value = evalCommand(c, dot, scope, i === 0 ? [] : [value]);
  });
  if (p.decl.length === 1) {
    if (p.assign) scope.assign(p.decl[0]!, value);
    else scope.declare(p.decl[0]!, value);
  }
  return value;
}

function rangeItems(v: unknown): [unknown, unknown][] {
  if (v === null || v === undefined || v === NO_VALUE) return [];
  if (Array.isArray(v)) return v.map((e, i) => [i, e]);
  if (typeof v === 'object')
    return Object.keys(v)
      .sort()
      .map((k) => [k, (v as Record<string, unknown>)[k]]);
  if (typeof v === 'number' && Number.isInteger(v)) return Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
  throw templateError(`range can't iterate over ${goValueString(v)}`);
}

function exec(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.kind) {
      case 'text':
        out.push(n.text);
        break;
      case 'action': {
        const v = evalPipe(n.pipe, dot, scope);
        if (n.pipe.decl.length === 0) out.push(goValueString(v));
        break;
      }
      case 'if':
      case 'with': {
        scope.push();
        const v = evalPipe(n.pipe, dot, scope);
        if (truthy(v)) exec(n.then, n.kind === 'with' ? v : dot, scope, out);
        else exec(n.else, dot, scope, out);
        scope.pop();
        break;
      }
      case 'range': {
        scope.push();
        const pipe = { ...n.pipe, decl: [] };
        const items = rangeItems(evalPipe(pipe, dot, scope));
        for (const [k, v] of items) {
          if (n.pipe.decl.length === 1) scope.declare(n.pipe.decl[0]!, v);
          if (n.pipe.decl.length === 2) {
            scope.declare(n.pipe.decl[0]!, k);
            scope.declare(n.pipe.decl[1]!, v);
          }
          exec(n.then, v, scope, out);
        }
        if (items.length === 0) exec(n.else, dot, scope, out);
        scope.pop();
        break;
      }
    }
  }
}

/**
 * Renders `template` over `data` (a JSON-compatible value; pass the command's
 * JSON document) the way oras 1.3 does. No newline is added. Throws
 * `ERR_ORAS_USAGE` for a malformed or unsupported template or an evaluation
 * error (nothing is printed then).
 */
export function renderGoTemplate(template: string, data: unknown): string {
  const nodes = parseGoTemplate(template);
  const out: string[] = [];
  // oras marshals the result to JSON and decodes it into maps: do the same (drops undefined fields).
  const root = data === undefined ? null : (JSON.parse(JSON.stringify(data)) as unknown);
  exec(nodes, root, new Scope(root), out);
  return out.join('');
}

// ---------------------------------------------------------------- functions

const cmp = (a: unknown, b: unknown): number => {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw templateError('incompatible types for comparison');
};
const str = (v: unknown): string => goValueString(v);
const jsonOf = (v: unknown, indent?: number): string =>
  v === NO_VALUE || v === undefined ? 'null' : JSON.stringify(v, null, indent);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === null || v === NO_VALUE ? [] : [v]);

const FUNCS: Record<string, Fn> = {
  // Go text/template builtins
  index: (v, ...keys) =>
    keys.reduce<unknown>((acc, k) => {
      if (Array.isArray(acc)) {
        if (typeof k !== 'number' || k < 0 || k >= acc.length) throw templateError(`index out of range: ${str(k)}`);
        return acc[k];
      }
      if (acc !== null && typeof acc === 'object')
        return Object.prototype.hasOwnProperty.call(acc, String(k))
          ? (acc as Record<string, unknown>)[String(k)]
          : NO_VALUE;
      throw templateError(`can't index item of type ${typeof acc}`);
    }, v),
  len: (v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v !== null && typeof v === 'object') return Object.keys(v).length;
    throw templateError(`len of type ${typeof v}`);
  },
  printf: (fmt, ...args) => goPrintf(String(fmt), args),
  print: (...args) =>
    args
      .map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + str(a))
      .join(''),
  println: (...args) => `${args.map(str).join(' ')}\n`,
  not: (v) => !truthy(v),
  and: (...args) => {
    for (const a of args) if (!truthy(a)) return a;
    return args[args.length - 1];
  },
  or: (...args) => {
    for (const a of args) if (truthy(a)) return a;
    return args[args.length - 1];
  },
  eq: (a, ...bs) => bs.some((b) => (a === NO_VALUE ? null : a) === (b === NO_VALUE ? null : b)),
  ne: (a, b) => a !== b,
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  // sprig (oras registers sprig.FuncMap())
  toJson: (v) => jsonOf(v),
  toRawJson: (v) => jsonOf(v),
  toPrettyJson: (v) => jsonOf(v, 2),
  join: (sep, v) => list(v).map(str).join(String(sep)),
  upper: (s) => str(s).toUpperCase(),
  lower: (s) => str(s).toLowerCase(),
  trim: (s) => str(s).trim(),
  trimPrefix: (p, s) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)),
  trimSuffix: (p, s) => (str(s).endsWith(str(p)) && str(p) !== '' ? str(s).slice(0, -str(p).length) : str(s)),
  replace: (from, to, s) => str(s).split(str(from)).join(str(to)),
  contains: (sub, s) => str(s).includes(str(sub)),
  hasPrefix: (p, s) => str(s).startsWith(str(p)),
  hasSuffix: (p, s) => str(s).endsWith(str(p)),
  quote: (...args) => args.map((a) => JSON.stringify(str(a))).join(' '),
  squote: (...args) => args.map((a) => `'${str(a)}'`).join(' '),
  default: (d, v) => (v === undefined || !truthy(v) ? d : v),
  empty: (v) => !truthy(v),
  first: (v) => list(v)[0] ?? null,
  last: (v) => list(v)[list(v).length - 1] ?? null,
  keys: (...maps) => maps.flatMap((m) => (m !== null && typeof m === 'object' ? Object.keys(m) : [])),
  sortAlpha: (v) => list(v).map(str).sort(),
  split: (sep, s) =>
    Object.fromEntries(
      str(s)
        .split(str(sep))
        .map((p, i) => [`_${i}`, p]),
    ),
  splitList: (sep, s) => str(s).split(str(sep)),
  base: (s) => str(s).replace(/\/+$/, '').split('/').pop() ?? '',
  trunc: (n, s) => (typeof n === 'number' ? (n >= 0 ? str(s).slice(0, n) : str(s).slice(n)) : str(s)),
};
