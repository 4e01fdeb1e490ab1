import picomatch from 'picomatch';
import semver from 'semver';

/**
 * Which published tags are immutable (issue 11 item 3).
 *
 * A tag is a **release tag**, and immutable once it exists in the registry,
 * when it is a full semantic version, optionally with a leading `v`:
 * `1.0.0`, `v2.3.4`, `1.0.0-rc.1`, `1.0.0+build.5` (semver 2.0.0, all three
 * numbers). Partial versions (`1`, `1.2`), `latest`, `main`, `nightly`, `sha-…`
 * and every other tag are **moving tags** that follow the newest publish,
 * as Docker's `1.2` → `1.2.3` convention has them. A publishable's
 * `mutableTags` (globs over tag names, e.g. `["*-SNAPSHOT", "*-dev*"]`) makes
 * matching release tags moving too (Maven-style snapshots).
 *
 * Publishing other content under an existing release tag is refused
 * (`ERR_ORAS_IMMUTABLE_TAG`, old → new digest) unless `--force`. Moving a tag
 * never moves what was attached to the old manifest (SBOMs, signatures: the
 * referrers API indexes them by subject digest), so they stay on the old digest.
 */

/** True when `tag` is a full semantic version (optional leading `v`): a release tag. */
export function isReleaseTag(tag: string): boolean {
  const bare = tag.startsWith('v') ? tag.slice(1) : tag;
  return /^[0-9]/.test(bare) && semver.valid(bare) !== null;
}

/** True when an existing `tag` may be moved to other content: not a release tag, or matched by one of `mutableTags`. */
export function isMovingTag(tag: string, mutableTags: readonly string[] = []): boolean {
  if (!isReleaseTag(tag)) return true;
  return mutableTags.some((glob) => picomatch.isMatch(tag, glob, { dot: true }));
}
