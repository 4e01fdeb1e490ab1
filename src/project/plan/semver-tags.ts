import gt from 'semver/functions/gt.js';
import parse from 'semver/functions/parse.js';
import prerelease from 'semver/functions/prerelease.js';
import valid from 'semver/functions/valid.js';
import maxSatisfying from 'semver/ranges/max-satisfying.js';
import { OrasError } from '../../errors.js';
import type { CallOptions, TagLister } from '../../content/store.js';

/** One tag that is a semver version. */
export interface SemverTag {
  /** The tag as stored, e.g. `v1.2.0`. */
  tag: string;
  /** The parsed version, e.g. `1.2.0` (build metadata kept, from `_` in the tag). */
  version: string;
}

/** The tags of a repository, split into semver versions and the rest. */
export interface SemverTags {
  versions: SemverTag[];
  /** Tags that are not semver versions (e.g. `latest`), in listing order. */
  other: string[];
}

/**
 * The semver version a tag denotes, or undefined: `1.2.3`, `v1.2.3`,
 * `1.2.3-rc.1`; `1.2.3_build.5` is read as `1.2.3+build.5` (tags cannot hold
 * `+`, Helm writes `_`). Partial versions (`1.2`) are not versions.
 */
export function tagVersion(tag: string): string | undefined {
  const candidate = tag.startsWith('v') ? tag.slice(1) : tag;
  if (!/^\d/.test(candidate)) return undefined;
  const v = valid(candidate.replace('_', '+'));
  return v === null ? undefined : (parse(candidate.replace('_', '+'))?.raw ?? v);
}

/** Splits a list of tags into {@link SemverTags}. */
export function classifyTags(tags: Iterable<string>): SemverTags {
  const out: SemverTags = { versions: [], other: [] };
  for (const tag of tags) {
    const version = tagVersion(tag);
    if (version !== undefined) out.versions.push({ tag, version });
    else out.other.push(tag);
  }
  return out;
}

/**
 * Lists the tags of a repository (at most `max`, else `ERR_ORAS_LIMIT_EXCEEDED`)
 * and classifies them.
 */
export async function listSemverTags(
  repo: TagLister,
  options: CallOptions & { max: number; what: string },
): Promise<SemverTags> {
  const tags: string[] = [];
  for await (const t of repo.tags(options.signal ? { signal: options.signal } : {})) {
    if (tags.length >= options.max) {
      throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `${options.what} has more than ${options.max} tags`, {
        hint: 'pin an exact tag or digest instead of a range for this repository',
      });
    }
    tags.push(t);
  }
  return classifyTags(tags);
}

/**
 * The highest version satisfying `range` (semver rules: prereleases only when
 * the range names a prerelease of the same major.minor.patch), or undefined.
 * When several tags denote the same version (`1.2.0`, `v1.2.0`), the one
 * without `v` wins, then the lexically smallest.
 */
export function pickVersion(tags: SemverTags, range: string): SemverTag | undefined {
  const best = maxSatisfying(
    tags.versions.map((v) => v.version),
    range,
  );
  return best === null ? undefined : preferred(tags, best);
}

/** Of the tags denoting exactly `version`, the one without `v`, then the lexically smallest. */
function preferred(tags: SemverTags, version: string): SemverTag | undefined {
  const same = tags.versions.filter((v) => v.version === version);
  same.sort(
    (a, b) =>
      Number(a.tag.startsWith('v')) - Number(b.tag.startsWith('v')) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0),
  );
  return same[0];
}

/** The highest non-prerelease version overall (else the highest prerelease), or undefined. */
export function latestVersion(tags: SemverTags): SemverTag | undefined {
  const stable = tags.versions.filter((v) => prerelease(v.version) === null);
  const pool = stable.length > 0 ? stable : tags.versions;
  let best: SemverTag | undefined;
  for (const v of pool) if (best === undefined || gt(v.version, best.version)) best = v;
  return best === undefined ? undefined : preferred(tags, best.version);
}
