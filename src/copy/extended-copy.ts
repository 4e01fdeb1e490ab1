import {
  hasReferrers,
  type ReadOnlyStorage,
  type ReadOnlyTarget,
  type Storage,
  type Target,
} from '../content/store.js';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { copyReference, GraphCopier } from './graph-copier.js';
import type { ExtendedCopyOptions } from './options.js';

/**
 * Copies the graph rooted at `root` and then, when `src` can list referrers
 * (see `hasReferrers`), the graphs of all its referrers, recursively: the
 * referrers of the root and of every manifest inside it (index entries), then
 * the referrers of those referrers, up to `maxReferrerDepth` levels and
 * `maxReferrers` manifests in total (else `ERR_ORAS_LIMIT_EXCEEDED`). A
 * referrer seen twice (or a lister that lies and returns cycles) is copied
 * once. Each referrer is pushed after its subject, so its `subject` points at
 * content that already exists at the destination. Nothing is tagged.
 */
export async function extendedCopyGraph(
  src: ReadOnlyStorage,
  dst: Storage,
  root: Descriptor,
  options: ExtendedCopyOptions = {},
): Promise<void> {
  const copier = new GraphCopier(src, dst, options);
  await copier.copyGraph(root);
  await copyReferrers(copier, src, root, options);
}

async function copyReferrers(
  copier: GraphCopier,
  src: ReadOnlyStorage,
  root: Descriptor,
  options: ExtendedCopyOptions,
): Promise<void> {
  if (!hasReferrers(src)) return;
  const maxDepth = options.maxReferrerDepth ?? 16;
  const maxReferrers = options.maxReferrers ?? 10_000;
  const visited = new Set<string>([root.digest]);
  const expanded = new Set<string>();
  let copied = 0;
  /** The manifest itself plus its index entries (recursively, once each). */
  const manifestsOf = async (desc: Descriptor): Promise<Descriptor[]> => {
    const out: Descriptor[] = [];
    const queue = [desc];
    while (queue.length > 0) {
      const d = queue.shift() as Descriptor;
      if (expanded.has(d.digest)) continue;
      expanded.add(d.digest);
      if (expanded.size > maxReferrers * 4)
        throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `more than ${maxReferrers * 4} manifests scanned for referrers`);
      out.push(d);
      queue.push(...(await copier.childManifests(d)));
    }
    return out;
  };
  let frontier = await manifestsOf(root);
  for (let level = 0; frontier.length > 0; level++) {
    if (level >= maxDepth) {
      throw new OrasError(
        'ERR_ORAS_LIMIT_EXCEEDED',
        `referrers nested deeper than ${maxDepth} levels below ${root.digest}`,
        {
          hint: 'raise maxReferrerDepth if this is legitimate',
        },
      );
    }
    const found: Descriptor[] = [];
    for (const m of frontier) {
      if (copier.signal.aborted) throw new OrasError('ERR_ORAS_ABORTED', 'copying referrers: aborted');
      const refs = await src.referrers(m, {
        signal: copier.signal,
        ...(options.referrersArtifactType !== undefined ? { artifactType: options.referrersArtifactType } : {}),
      });
      for (const r of refs) {
        if (visited.has(r.digest)) continue;
        visited.add(r.digest);
        if (++copied > maxReferrers) {
          throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `more than ${maxReferrers} referrers below ${root.digest}`, {
            hint: 'raise maxReferrers if this is legitimate',
          });
        }
        found.push(r);
      }
    }
    const results = await Promise.allSettled(found.map((r) => copier.copyGraph(r)));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    const next: Descriptor[] = [];
    for (const r of found) next.push(...(await manifestsOf(r)));
    frontier = next;
  }
}

/**
 * Like `copy()`, but also copies the referrers graph (`oras cp -r`): resolves
 * `srcRef`, copies its graph, tags `dstRef` (default: `srcRef` when a tag),
 * then copies every referrer as {@link extendedCopyGraph} describes.
 * Resolves with the root descriptor.
 */
export async function extendedCopy(
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef?: string,
  options: ExtendedCopyOptions = {},
): Promise<Descriptor> {
  const { root, copier } = await copyReference(src, srcRef, dst, dstRef, options);
  await copyReferrers(copier, src, root, options);
  return root;
}
