import pLimit from 'p-limit';
import { emit, type ProjectListener } from '../events.js';
import type { Sources } from './locked-files.js';
import { tagVersion } from './semver-tags.js';
import type { LockedDependency } from '../types.js';

/**
 * Install's "was republished" check for locked dependencies (issue 11,
 * item 3). A lock keeps its digests (no silent upgrades), but the user
 * should hear when a locked release tag (`1.0.0`, `v2.3.1`; not `latest`)
 * now names other content: someone moved a release.
 *
 * Cost rule (decided): a locked entry is checked only when this install
 * already contacted its repository for it (a manifest or blob was missing
 * from the cache), with one HEAD of the tag, concurrently with nothing else
 * pending. A warm or no-op install makes no request for this; `oras
 * outdated` is the explicit check of every entry. The check is advisory: a
 * failed HEAD (network, auth, tag deleted) is ignored and never fails the
 * install.
 */

/** A locked release tag that now names other content; the lock kept `from`. */
export interface RepublishedTag {
  dependency: string;
  tag: string;
  /** The locked manifest digest (kept). */
  from: string;
  /** What the tag names now (a manifest, or an index not listing `from`). */
  to: string;
}

/** Options of {@link checkRepublished}. */
export interface CheckRepublishedOptions {
  /** Parallel HEAD requests (default 8). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Receives `republished` events with `kept: true`. */
  onEvent?: ProjectListener;
}

/**
 * For each entry of `deps` (name → locked entry) that {@link Sources.contacted}
 * says was fetched from its registry in this run and whose tag looks like a
 * version: resolves the tag and reports it when it names other content than
 * the locked digest (an index that lists the locked platform manifest is the
 * same release). Returns the findings sorted by dependency name and emits a
 * `republished` event (`kept: true`) for each.
 */
export async function checkRepublished(
  deps: Record<string, LockedDependency>,
  sources: Sources,
  options: CheckRepublishedOptions = {},
): Promise<RepublishedTag[]> {
  const names = Object.keys(deps)
    .sort()
    .filter((n) => {
      const d = deps[n]!;
      return d.tag !== undefined && tagVersion(d.tag) !== undefined && sources.contacted(d);
    });
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const found = await Promise.all(names.map((name) => limit(() => checkOne(name, deps[name]!, sources, options))));
  const out = found.filter((f): f is RepublishedTag => f !== undefined);
  for (const f of out) emit(options.onEvent, { type: 'republished', ...f, kept: true });
  return out;
}

async function checkOne(
  name: string,
  dep: LockedDependency,
  sources: Sources,
  options: CheckRepublishedOptions,
): Promise<RepublishedTag | undefined> {
  if (options.signal?.aborted) return undefined;
  try {
    const source = await sources.forDependency(dep);
    const opts = options.signal ? { signal: options.signal } : {};
    const now = await source.resolve(dep.tag!, opts);
    if (now.digest === dep.digest) return undefined;
    // A multi-platform release: the tag names the index the locked manifest was picked from.
    if ((await sources.indexChildren(dep, now.digest)).includes(dep.digest)) return undefined;
    return { dependency: name, tag: dep.tag!, from: dep.digest, to: now.digest };
  } catch {
    return undefined; // advisory only
  }
}
