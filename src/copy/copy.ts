import type { ReadOnlyStorage, ReadOnlyTarget, Storage, Target } from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { copyReference, GraphCopier } from './graph-copier.js';
import type { CopyOptions } from './options.js';

export { destinationTag } from './graph-copier.js';

/**
 * Copies the graph rooted at `root` from `src` to `dst` (after oras-go
 * `CopyGraph`): children first, the root last; manifests are fetched fully
 * (capped by `maxManifestBytes`) and validated, blobs are streamed (both
 * stores verify), content already at the destination is skipped with its
 * subgraph (`skip` event, reason `exists`), identical descriptors are copied
 * once, and at most `concurrency` transfers run at a time. `subject` is not
 * followed unless `includeSubject`. Nothing is tagged.
 */
export async function copyGraph(
  src: ReadOnlyStorage,
  dst: Storage,
  root: Descriptor,
  options: CopyOptions = {},
): Promise<void> {
  await new GraphCopier(src, dst, options).copyGraph(root);
}

/**
 * Copies `srcRef` (a tag or digest resolved at `src`) and its whole graph to
 * `dst`, then tags the root there as `dstRef` (default: `srcRef` when it is a
 * tag; nothing for a digest). Resolves with the root descriptor. See
 * {@link copyGraph} for the copy semantics and `CopyOptions` for the options.
 */
export async function copy(
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef?: string,
  options: CopyOptions = {},
): Promise<Descriptor> {
  const { root } = await copyReference(src, srcRef, dst, dstRef, options);
  return root;
}
