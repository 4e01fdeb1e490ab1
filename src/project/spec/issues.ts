import type { ErrorObject } from 'ajv';

/**
 * Validation issues: one problem in a user-written document (artifacts.yaml,
 * artifacts.lock, oras config), addressed by a dot-path so the loaders can map
 * it to a `file:line:col` position.
 */

/** One path segment: an object key or an array index. */
export type PathSegment = string | number;

/** One problem found in a document. */
export interface Issue {
  /** Dot-path of the offending value, e.g. `dependencies.model.ref` or `publish.app.files[0]` (empty for the document itself). */
  path: string;
  /** What is wrong, e.g. `unknown key 'pth'; did you mean 'path'?`. */
  message: string;
  /** How to fix it, when known. */
  hint?: string;
  /** The same path as segments (for source-position lookup). */
  segments?: PathSegment[];
  /** Whether the issue is about the key at `segments` (e.g. an unknown key) rather than its value. */
  target?: 'key' | 'value';
}

const SIMPLE_KEY_RE = /^[A-Za-z0-9_-]+$/;

/** Formats segments as a dot-path: `a.b[0]`, with `["x.y"]` for keys that are not simple identifiers. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (SIMPLE_KEY_RE.test(s)) out += out.length === 0 ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Builds an {@link Issue} at `segments`. */
export function issueAt(
  segments: readonly PathSegment[],
  message: string,
  hint?: string,
  target: 'key' | 'value' = 'value',
): Issue {
  return {
    path: formatPath(segments),
    message,
    ...(hint !== undefined ? { hint } : {}),
    segments: [...segments],
    target,
  };
}

/** Levenshtein distance (small strings only; bounded by the callers' key lists). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(
        prev[j]! + 1,
        prev[j - 1]! + 1,
        diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `word` (distance ≤ max(2, len/3)), or undefined. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(2, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= limit ? best : undefined;
}

/** Friendly messages for the schema patterns (keyed by the pattern source). */
const PATTERN_MESSAGES: Record<string, { message: string; hint?: string }> = {
  '^[a-z0-9][a-z0-9._-]*$': {
    message: 'must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    hint: 'rename it, e.g. "my-model"',
  },
  '^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$': {
    message: 'is not a valid digest (sha256:<64 lower-case hex> or sha512:<128 lower-case hex>)',
    hint: 'the lockfile looks corrupted: delete artifacts.lock and run `oras install` to regenerate it',
  },
  '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$': { message: 'is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})' },
  '^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$': {
    message: 'is not a platform',
    hint: 'write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8',
  },
  '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$': {
    message: 'is not a media type',
    hint: 'write type/subtype, e.g. application/vnd.acme.model.v1+json',
  },
};

function show(value: unknown, secret: boolean): string {
  if (secret) return '';
  if (typeof value === 'string') return ` ${JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)}`;
  return '';
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** Splits an ajv instancePath (`/a/b~1c/0`) into segments, using the data to tell array indexes from keys. */
function segmentsOf(instancePath: string, root: unknown): PathSegment[] {
  if (instancePath === '') return [];
  const out: PathSegment[] = [];
  let node: unknown = root;
  for (const raw of instancePath.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const i = Number(key);
      out.push(i);
      node = node[i];
    } else {
      out.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

/**
 * Converts ajv errors (compiled with `allErrors` and `verbose`) into friendly
 * issues: unknown keys with a "did you mean" suggestion, missing keys with the
 * property's description, type and pattern errors in plain words. Values are
 * not echoed for paths under `secretKey` (e.g. `headers`).
 */
export function ajvIssues(errors: readonly ErrorObject[], root: unknown, secretKey = 'headers'): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  // A missing key that an unknown key is a typo of is reported once (as the typo).
  const typoFor = new Set<string>();
  const missing: { segs: PathSegment[]; key: string; issue: Issue }[] = [];
  const push = (issue: Issue): void => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push(issue);
  };
  for (const e of errors) {
    const segs = segmentsOf(e.instancePath, root);
    const secret = segs.includes(secretKey);
    const parent = e.parentSchema as
      { properties?: Record<string, { description?: string }>; type?: unknown } | undefined;
    if ((e as { propertyName?: string }).propertyName !== undefined) continue; // reported by the propertyNames error
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty: string }).additionalProperty);
        const allowed = Object.keys(parent?.properties ?? {});
        const guess = suggest(key, allowed);
        if (guess !== undefined) typoFor.add(`${formatPath(segs)}\u0000${guess}`);
        push(
          issueAt(
            [...segs, key],
            `unknown key '${key}'${guess !== undefined ? `; did you mean '${guess}'?` : ''}`,
            allowed.length > 0 ? `allowed keys here: ${allowed.join(', ')}` : 'remove it',
            'key',
          ),
        );
        break;
      }
      case 'required': {
        const key = String((e.params as { missingProperty: string }).missingProperty);
        const desc = parent?.properties?.[key]?.description;
        missing.push({
          segs,
          key,
          issue: issueAt(
            segs,
            `missing required key '${key}'`,
            `add '${key}:'${desc !== undefined ? ` (${desc.split('. ')[0]?.replace(/\.$/, '')})` : ''}`,
          ),
        });
        break;
      }
      case 'propertyNames': {
        const name = String((e.params as { propertyName: string }).propertyName);
        const nameSchema = e.schema as { pattern?: string; $ref?: string } | undefined;
        const friendly = PATTERN_MESSAGES['^[a-z0-9][a-z0-9._-]*$']!;
        const isHost = segs[segs.length - 1] === 'registries';
        push(
          issueAt(
            [...segs, name],
            isHost
              ? `invalid registry host ${JSON.stringify(name)}: must be host[:port]`
              : `invalid name ${JSON.stringify(name)}: ${nameSchema?.pattern === undefined || nameSchema.$ref !== undefined ? friendly.message : 'not allowed'}`,
            isHost ? 'write the host as in references, e.g. localhost:5000 or ghcr.io' : friendly.hint,
            'key',
          ),
        );
        break;
      }
      case 'type': {
        const want = String((e.params as { type: string | string[] }).type)
          .split(',')
          .map((t) => (t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : `a ${t}`))
          .join(' or ');
        const got = segs.reduce<unknown>(
          (n, s) => (n !== null && typeof n === 'object' ? (n as Record<string | number, unknown>)[s] : undefined),
          root,
        );
        const wantsText = String((e.params as { type: string | string[] }).type).includes('string');
        const scalar = typeof got === 'number' || typeof got === 'boolean';
        push(
          issueAt(
            segs,
            `must be ${want}, not ${typeName(got)}`,
            wantsText && scalar ? 'quote the value so YAML reads it as text, e.g. "1.10" or "yes"' : undefined,
          ),
        );
        break;
      }
      case 'pattern': {
        const pat = String((e.params as { pattern: string }).pattern);
        const friendly = PATTERN_MESSAGES[pat];
        push(
          issueAt(
            segs,
            `${show(e.data, secret).trim() || 'value'} ${friendly?.message ?? `must match ${pat}`}`,
            friendly?.hint,
          ),
        );
        break;
      }
      case 'enum': {
        const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
        const guess = typeof e.data === 'string' ? suggest(e.data, allowed) : undefined;
        push(
          issueAt(
            segs,
            `must be one of ${allowed.join(', ')}${guess !== undefined ? `; did you mean '${guess}'?` : ''}`,
          ),
        );
        break;
      }
      case 'const':
        push(issueAt(segs, `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`));
        break;
      case 'minItems':
        push(
          issueAt(
            segs,
            (e.params as { limit: number }).limit === 1
              ? 'must not be empty'
              : `must have at least ${(e.params as { limit: number }).limit} items`,
            'remove the key to use the default',
          ),
        );
        break;
      case 'minLength':
        push(issueAt(segs, 'must not be empty'));
        break;
      case 'uniqueItems':
        push(
          issueAt(
            segs,
            `has duplicate items (${(e.params as { i: number; j: number }).j} and ${(e.params as { i: number; j: number }).i})`,
          ),
        );
        break;
      default:
        push(issueAt(segs, e.message ?? `fails ${e.keyword}`));
    }
  }
  for (const m of missing) if (!typoFor.has(`${formatPath(m.segs)}\u0000${m.key}`)) push(m.issue);
  return issues;
}
