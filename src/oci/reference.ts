import { OrasError } from '../errors.js';
import { parseDigest, type Digest } from './digest.js';

/** A parsed artifact reference `registry/repository[:tag][@digest]`. */
export interface Reference {
  /** Registry host[:port] as used on the wire (docker.io is mapped to registry-1.docker.io). */
  registry: string;
  /** Repository path, e.g. `library/alpine`. */
  repository: string;
  /** Tag, when given. */
  tag?: string;
  /** Digest, when given (validated). */
  digest?: Digest;
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REPO_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST_RE =
  /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?$/;

function bad(ref: string, problem: string): never {
  throw new OrasError(
    'ERR_ORAS_INVALID_REFERENCE',
    `invalid reference ${JSON.stringify(ref.slice(0, 200))}: ${problem}`,
    {
      hint: 'use registry/repository[:tag][@digest], e.g. localhost:5000/hello:v1',
    },
  );
}

/**
 * True for a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pulling-manifests
 */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Validates a tag, throwing `ERR_ORAS_INVALID_REFERENCE`. */
export function validateTag(tag: string): string {
  if (!TAG_RE.test(tag)) bad(tag, 'tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}');
  return tag;
}

/**
 * Validates a repository path (lower-case components separated by `/`).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pulling-manifests
 */
export function validateRepository(repo: string, whole = repo): string {
  if (repo.length === 0 || repo.length > 255) bad(whole, 'repository must be 1..255 characters');
  for (const c of repo.split('/'))
    if (!REPO_COMPONENT_RE.test(c))
      bad(whole, `repository component ${JSON.stringify(c)} is not lower-case [a-z0-9] with . _ - separators`);
  return repo;
}

/**
 * Parses `registry/repo[:tag][@digest]`. The first component is the registry
 * (docker.io, index.docker.io → registry-1.docker.io with the `library/` prefix
 * for single-component repositories). A reference without a registry host is
 * rejected: this client never guesses a default registry.
 */
export function parseReference(input: string): Reference {
  const ref = input.trim();
  if (ref.length === 0 || ref.length > 1024) bad(ref, 'empty or too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch {
      bad(ref, `digest ${JSON.stringify(digest.slice(0, 80))} is not sha256:<64 hex> or sha512:<128 hex>`);
    }
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) bad(ref, 'missing registry host (e.g. localhost:5000/repo)');
  let registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (!HOST_RE.test(registry)) bad(ref, `registry ${JSON.stringify(registry)} is not a valid host[:port]`);
  let tag: string | undefined;
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag))
      bad(ref, `tag ${JSON.stringify(tag.slice(0, 130))} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = 'registry-1.docker.io';
    if (!path.includes('/')) path = `library/${path}`;
  }
  validateRepository(path, ref);
  return {
    registry,
    repository: path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** Parses `registry[:port]` or `registry/repo` for commands that take a registry only (e.g. `repo ls`). */
export function parseRegistryOrRepository(input: string): { registry: string; repository?: string } {
  const trimmed = input.trim().replace(/\/+$/, '');
  if (!trimmed.includes('/')) {
    if (!HOST_RE.test(trimmed)) bad(input, 'not a valid registry host[:port]');
    return { registry: trimmed === 'docker.io' ? 'registry-1.docker.io' : trimmed };
  }
  const r = parseReference(trimmed);
  return { registry: r.registry, repository: r.repository };
}

/** Formats a reference back to text (`registry/repo[:tag][@digest]`). */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The tag or digest to resolve: digest wins over tag; `latest` when neither is set. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** True for hosts that default to plain HTTP: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
