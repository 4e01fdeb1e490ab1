import type { ReadOnlyStorage, ReadOnlyTarget, Storage, Target } from '../content/store.js';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isDigest } from '../oci/digest.js';
import { GraphCopier } from './graph-copier.js';
import type { CopyOptions } from './options.js';

/**
 * The tag `copy()` applies at the destination: `dstRef` when given, else
 * `srcRef` when it is a tag; undefined (no tag) for a digest. A digest
 * `dstRef` must equal the root digest (then nothing is tagged).
 */
export function destinationTag(srcRef: string, dstRef: string | undefined, root: Descriptor): string | undefined {
  const ref = dstRef === undefined || dstRef === '' ? srcRef : dstRef;
  const byDigest: boolean = isDigest(ref);
  if (!byDigest) return ref;
  if (dstRef !== undefined && dstRef !== '' && dstRef !== root.digest) {
    throw new OrasError('ERR_ORAS_INVALID_REFERENCE', `destination digest ${dstRef} does not match the copied root ${root.digest}`, {
      hint: 'give a tag as the destination reference, or the digest of the source',
    });
  }
  return undefined;
}

/**
 * Copies the graph rooted at `root` from `src` to `dst` (after oras-go
 * `CopyGraph`): children first, the root last; manifests are fetched fully
 * (capped by `maxManifestBytes`) and validated, blobs are streamed (both
 * stores verify), content already at the destination is skipped with its
 * subgraph (`skip` event, reason `exists`), identical descriptors are copied
 * once, and at most `concurrency` transfers run at a time. `subject` is not
 * followed unless `includeSubject`. Nothing is tagged.
 */
export async function copyGraph(src: ReadOnlyStorage, dst: Storage, root: Descriptor, options: CopyOptions = {}): Promise<void> {
  await new GraphCopier(src, dst, options).copyGraph(root);
}

/**
 * Copies `srcRef` (a tag or digest resolved at `src`) and its whole graph to
 * `dst`, then tags the root there as `dstRef` (default: `srcRef` when it is a
 * tag; nothing for a digest). Resolves with the root descriptor. See
 * {@link copyGraph} for the copy semantics and `CopyOptions` for the options.
 */
export async function copy(src: ReadOnlyTarget, srcRef: string, dst: Target, dstRef?: string, options: CopyOptions = {}): Promise<Descriptor> {
  const callOpts = options.signal ? { signal: options.signal } : {};
  const root = await src.resolve(srcRef, callOpts);
  const tag = destinationTag(srcRef, dstRef, root);
  const copier = new GraphCopier(src, dst, options);
  await copier.copyGraph(root, tag !== undefined ? { tag } : {});
  if (tag !== undefined && !copier.rootTagged) await dst.tag(root, tag, callOpts);
  return root;
}
