/**
 * Token scopes (`type:name:actions`, e.g. `repository:acme/app:pull,push`):
 * parsing, merging actions per resource, and a canonical cache key.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/scope.md#resource-scope-grammar
 */

/** A parsed scope. `name` may itself contain colons (e.g. a host:port prefix). */
export interface ParsedScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parses `type:name:actions`; undefined when there are fewer than three parts. */
export function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  if (name === '') return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  return { type, name, actions };
}

/** `repository:<name>:<actions>` for a repository. */
export function repositoryScope(repository: string, actions: string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/**
 * Merges scopes (each string may hold several space-separated scopes) so each
 * resource appears once with the union of its actions, sorted:
 * `repository:a:pull` + `repository:a:push` → `repository:a:pull,push`. A `*`
 * action absorbs the others. Unparsable scopes are kept verbatim. The result is
 * sorted, so equal sets give equal arrays.
 */
export function mergeScopes(...lists: (readonly string[] | string | undefined)[]): string[] {
  const byResource = new Map<string, Set<string>>();
  const verbatim = new Set<string>();
  for (const list of lists) {
    if (list === undefined) continue;
    const items = typeof list === 'string' ? [list] : list;
    for (const item of items) {
      for (const s of item.split(/\s+/)) {
        if (s === '') continue;
        const p = parseScope(s);
        if (p === undefined) {
          verbatim.add(s);
          continue;
        }
        const key = `${p.type}:${p.name}`;
        let set = byResource.get(key);
        if (set === undefined) {
          set = new Set();
          byResource.set(key, set);
        }
        for (const a of p.actions) set.add(a);
      }
    }
  }
  const out: string[] = [...verbatim];
  for (const [key, set] of byResource) {
    const actions = set.has('*') ? ['*'] : [...set].sort();
    out.push(`${key}:${actions.join(',')}`);
  }
  return out.sort();
}

/** True when every action of every scope in `needed` is granted by `have` (both merged). */
export function scopesCover(have: readonly string[], needed: readonly string[]): boolean {
  const merged = mergeScopes(have);
  const index = new Map<string, Set<string>>();
  for (const s of merged) {
    const p = parseScope(s);
    if (p !== undefined) index.set(`${p.type}:${p.name}`, new Set(p.actions));
  }
  for (const s of mergeScopes(needed)) {
    const p = parseScope(s);
    if (p === undefined) {
      if (!merged.includes(s)) return false;
      continue;
    }
    const acts = index.get(`${p.type}:${p.name}`);
    if (acts === undefined) return false;
    if (acts.has('*')) continue;
    for (const a of p.actions) if (!acts.has(a)) return false;
  }
  return true;
}
