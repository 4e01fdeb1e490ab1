import { createRequire } from 'node:module';
import { OrasError } from '../../errors.js';
import { isValidTag, parseReference, type Reference } from '../../oci/reference.js';

/**
 * How a dependency `ref` of artifacts.yaml is interpreted.
 *
 * The part after the last `:` of the repository path (after the last `/`) is
 * the *specifier*. Rules, in order:
 *
 * 1. `…@sha256:<hex>` is a **digest pin** (a tag before the `@` is allowed and
 *    ignored for resolution; a range before the `@` is an error).
 * 2. A specifier that is not a valid tag (it contains `^ ~ > < = * |`, spaces,
 *    …) is a **semver range** and must pass `semver.validRange`.
 * 3. A valid tag made only of numbers and `x`/`X` wildcards with at least one
 *    wildcard (`1.x`, `v1.2.X`) is a **range**.
 * 4. Anything else is an **exact tag**: `latest`, `stable`, a semver version
 *    like `1.2.3` or `v1.2.3`, and also partial versions `1` / `1.2` (these are
 *    common floating tags on registries; write `^1` or `1.x` for a range).
 * 5. No specifier and no digest: the tag `latest`.
 */
export type DependencyRef =
  | { kind: 'tag'; reference: Reference & { tag: string }; tag: string }
  | { kind: 'digest'; reference: Reference & { digest: string }; digest: string }
  | { kind: 'range'; reference: Reference; range: string };

const X_RANGE_RE = /^v?\d+(?:\.(?:\d+|[xX]))*$/;

let validRangeFn: typeof import('semver/ranges/valid.js') | undefined;
/** `semver.validRange`, loaded on first use (semver builds all its regexes at import; loading the CLI config must not pay that). */
function validRange(): typeof import('semver/ranges/valid.js') {
  return (validRangeFn ??= createRequire(import.meta.url)(
    'semver/ranges/valid.js',
  ) as typeof import('semver/ranges/valid.js'));
}

/** True when `specifier` (the text after the last `:`) denotes a semver range (see {@link DependencyRef}). */
export function isRangeSpecifier(specifier: string): boolean {
  if (!isValidTag(specifier)) return true;
  return X_RANGE_RE.test(specifier) && /[xX]/.test(specifier);
}

function rangeError(ref: string, problem: string): OrasError {
  return new OrasError(
    'ERR_ORAS_INVALID_REFERENCE',
    `invalid reference ${JSON.stringify(ref.slice(0, 200))}: ${problem}`,
    {
      hint: 'use a tag (:latest, :1.2.3), a digest (@sha256:…) or a semver range (:^1.2.0, :~1.2, :>=2 <3)',
    },
  );
}

/**
 * Parses a dependency ref (see {@link DependencyRef} for the rules). Throws
 * `ERR_ORAS_INVALID_REFERENCE` for malformed references and invalid ranges.
 */
export function parseDependencyRef(input: string): DependencyRef {
  const ref = input.trim();
  const at = ref.indexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = base.lastIndexOf('/');
  const colon = lastSlash >= 0 ? base.indexOf(':', lastSlash + 1) : -1;
  const specifier = colon >= 0 ? base.slice(colon + 1) : undefined;
  if (specifier !== undefined && specifier.length > 0 && isRangeSpecifier(specifier)) {
    if (at >= 0) throw rangeError(ref, 'a semver range cannot be combined with a digest');
    const reference = parseReference(base.slice(0, colon));
    if (validRange()(specifier) === null) {
      throw rangeError(
        ref,
        `${JSON.stringify(specifier.slice(0, 130))} is neither a valid tag nor a valid semver range`,
      );
    }
    return { kind: 'range', reference, range: specifier };
  }
  const reference = parseReference(ref);
  if (reference.digest !== undefined) {
    return { kind: 'digest', reference: { ...reference, digest: reference.digest }, digest: reference.digest };
  }
  const tag = reference.tag ?? 'latest';
  return { kind: 'tag', reference: { ...reference, tag }, tag };
}

/** `registry/repository` of a reference (no tag, no digest). */
export function repositoryOf(reference: Reference): string {
  return `${reference.registry}/${reference.repository}`;
}
