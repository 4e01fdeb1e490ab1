import type { Descriptor } from './descriptor.js';
import { verifyContent } from './digest.js';

/**
 * The content a descriptor embeds in its `data` field (image-spec v1.1: base64 of the referenced
 * content, which "MUST be verified against the digest and size"), when it is there and is exactly
 * that content: canonical base64 (padded, no whitespace or other characters, so one text has one
 * meaning) that decodes to `size` bytes hashing to `digest`. Undefined otherwise, and the caller
 * fetches the content as if nothing were embedded (a wrong `data` is never used, and never fails
 * a fetch that would succeed). Pure; decodes at most what `size` allows.
 *
 * ORAS puts the empty config `{}` in every artifact it pushes with `data: "e30="`: an install reads
 * it from the manifest instead of making a request for two bytes.
 */
export function embeddedContent(desc: Pick<Descriptor, 'digest' | 'size' | 'data'>): Buffer | undefined {
  const text = desc.data;
  if (typeof text !== 'string' || text.length !== 4 * Math.ceil(desc.size / 3)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  try {
    verifyContent(bytes, desc); // its size and digest, as for any fetched content
    return bytes;
  } catch {
    return undefined;
  }
}
