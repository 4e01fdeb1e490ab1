import { join } from 'node:path';
import { OciLayoutStore } from '../content/oci-layout.js';
import type { Deleter, ReferrerLister, TagLister, Target } from '../content/store.js';
import type { TransferListener } from '../events.js';
import { parseRegistryOrRepository, parseReference, type Reference } from '../oci/reference.js';
import type { OrasConfig } from '../project/spec/config.js';
import type { RegistryClient } from '../registry/client.js';
import type { Registry } from '../registry/registry.js';
import type { Repository } from '../registry/repository.js';
import { parseHeaders, parseResolve, splitLayoutRef } from './args.js';
import { createRegistryClientFor, type RegistryAccess } from '../targets/registry-access.js';
import { registrySettings } from '../targets/registry-settings.js';
import { cliConfig } from './config.js';
import { cliState, errLine } from './context.js';
import { explicitCredential } from './credentials.js';
import { usageError } from './errors.js';
import { validateRemoteFlags, type RemoteFlags } from './options.js';
import { timeoutSettings } from './transfer-limits.js';

/** A target store every command can use: a remote repository or an OCI layout. */
export type CliTarget = Target & Deleter & TagLister & ReferrerLister;

/** A target opened from a command-line reference. */
export interface OpenedTarget {
  kind: 'registry' | 'layout';
  target: CliTarget;
  /** The tag given, if any. */
  tag?: string;
  /** The digest given, if any. */
  digest?: string;
  /** The reference to resolve: digest, else tag, else undefined. */
  reference: string | undefined;
  /** `registry/repository` or the layout directory, as the user typed it. */
  name: string;
  /** Registry host (registry targets only). */
  registry?: string;
  /** Repository path (registry targets only). */
  repository?: string;
  /** The parsed reference (registry targets only). */
  parsed?: Reference;
  /** The remote repository (registry targets only). */
  remote?: Repository;
  /** The layout store (layout targets only). */
  layout?: OciLayoutStore;
  /** The HTTP client (registry targets only). */
  client?: RegistryClient;
  /** Formats `name` with a tag or digest. */
  display(ref?: string): string;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Options for {@link openTarget}. */
export interface OpenTargetOptions {
  /** Receives transfer events emitted by the repository itself (e.g. mount). */
  onEvent?: TransferListener;
  /** The layout is only read: do not create it (default false). */
  readOnly?: boolean;
  /** Require a tag or digest in the reference (`ERR_ORAS_USAGE` otherwise). */
  requireReference?: boolean;
  /** The config to apply (default: loaded by {@link cliConfig}). */
  config?: OrasConfig;
}

/** The `onDebug` sink for `--debug`: prefixed lines on stderr (already redacted by the library). */
export function debugSink(): ((line: string) => void) | undefined {
  return cliState.debug ? (line: string) => errLine(`[debug] ${line}`) : undefined;
}

/**
 * The flags as the library's {@link RegistryAccess} (they win over the oras config's settings
 * for every host). Explicit credentials (`-u/-p`, `--password-stdin`, `--identity-token`) are
 * included only with `withCredential`: they belong to the registry the user named.
 */
export async function accessFromFlags(flags: RemoteFlags, withCredential = true): Promise<RegistryAccess> {
  const credential = withCredential ? await explicitCredential(flags) : undefined;
  const headers = parseHeaders(flags.header);
  const timeouts = timeoutSettings(flags);
  const sink = debugSink();
  return {
    ...(flags.plainHttp !== undefined ? { plainHttp: flags.plainHttp } : {}),
    ...(flags.insecure === true ? { insecure: true } : {}),
    ...(flags.caFile !== undefined ? { caFile: flags.caFile } : {}),
    ...(flags.certFile !== undefined ? { certFile: flags.certFile } : {}),
    ...(flags.keyFile !== undefined ? { keyFile: flags.keyFile } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(flags.registryConfig !== undefined ? { registryConfig: flags.registryConfig } : {}),
    ...(credential !== undefined ? { credential } : {}),
    ...(Object.keys(timeouts).length > 0 ? { timeouts } : {}),
    ...(sink !== undefined ? { onDebug: sink } : {}),
    ...connectToFromFlags(flags),
  };
}

/** `{ connectTo }` for `--resolve host:port:address[:port]` entries (none: no mapping). */
function connectToFromFlags(flags: RemoteFlags): Pick<RegistryAccess, 'connectTo'> {
  const resolveMap = parseResolve(flags.resolve);
  return resolveMap.size > 0 ? { connectTo: (h, port) => resolveMap.get(`${h.toLowerCase()}:${port}`) } : {};
}

/**
 * Builds a {@link RegistryClient} for `host` by the library's rules (`createRegistryClientFor`):
 * oras config settings for that host first, then the flags on top (a flag always wins).
 */
export async function clientFor(host: string, flags: RemoteFlags, config?: OrasConfig): Promise<RegistryClient> {
  validateRemoteFlags(flags);
  const cfg = config ?? (await cliConfig());
  return createRegistryClientFor(host, { config: cfg, access: await accessFromFlags(flags) });
}

/** `name:tag` or `name@digest` (digests hold a colon, tags never do); `name` alone without a ref. */
function displayRef(name: string): (ref?: string) => string {
  return (ref) => (ref === undefined ? name : ref.includes(':') ? `${name}@${ref}` : `${name}:${ref}`);
}

/** An {@link OpenedTarget} for an OCI layout directory (`--oci-layout`, or a host mapped by `ociLayout`). */
async function openLayoutTarget(
  dir: string,
  name: string,
  ref: { tag?: string | undefined; digest?: string | undefined },
  readOnly: boolean | undefined,
): Promise<OpenedTarget> {
  const layout = await OciLayoutStore.open(dir, readOnly === true ? { readOnly: true, create: false } : {});
  return {
    kind: 'layout',
    target: layout,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
    reference: ref.digest ?? ref.tag,
    name,
    layout,
    display: displayRef(name),
    close: async () => undefined,
  };
}

/**
 * Opens the target named by `arg`: with `--oci-layout` an OCI layout
 * directory `DIR[:tag|@digest]` (created on first write), otherwise a remote
 * repository `registry/repo[:tag][@digest]`.
 */
export async function openTarget(
  arg: string,
  flags: RemoteFlags,
  options: OpenTargetOptions = {},
): Promise<OpenedTarget> {
  validateRemoteFlags(flags);
  if (flags.ociLayout === true) {
    const { dir, tag, digest } = splitLayoutRef(arg);
    if (dir === '') throw usageError(`missing OCI layout directory in ${JSON.stringify(arg)}`, 'use DIR[:tag|@digest]');
    if (options.requireReference === true && tag === undefined && digest === undefined) {
      throw usageError(`${JSON.stringify(arg)} has no tag or digest`, 'use DIR:tag or DIR@sha256:…');
    }
    return openLayoutTarget(dir, dir, { tag, digest }, options.readOnly);
  }
  const parsed = parseReference(arg);
  if (options.requireReference === true && parsed.tag === undefined && parsed.digest === undefined) {
    throw usageError(`${JSON.stringify(arg)} has no tag or digest`, 'use registry/repo:tag or registry/repo@sha256:…');
  }
  cliState.errorContext.registry = parsed.registry;
  const config = options.config ?? (await cliConfig());
  const layoutRoot = registrySettings(config, parsed.registry).ociLayout;
  if (layoutRoot !== undefined) {
    // oras.yaml maps this host to local OCI layouts: repository R is <ociLayout>/R.
    return openLayoutTarget(
      join(layoutRoot, parsed.repository),
      `${parsed.registry}/${parsed.repository}`,
      parsed,
      options.readOnly,
    );
  }
  const client = await clientFor(parsed.registry, flags, config);
  const { Repository } = await import('../registry/repository.js');
  const remote = new Repository({
    reference: { registry: parsed.registry, repository: parsed.repository },
    client,
    ...(config.limits.maxManifestBytes !== undefined ? { maxManifestBytes: config.limits.maxManifestBytes } : {}),
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
  });
  // Show Docker Hub as the user wrote it (the wire host is registry-1.docker.io).
  const shownRegistry = /^(docker\.io|index\.docker\.io)\//.test(arg.trim()) ? 'docker.io' : parsed.registry;
  const name = `${shownRegistry}/${parsed.repository}`;
  return {
    kind: 'registry',
    target: remote,
    ...(parsed.tag !== undefined ? { tag: parsed.tag } : {}),
    ...(parsed.digest !== undefined ? { digest: parsed.digest } : {}),
    reference: parsed.digest ?? parsed.tag,
    name,
    registry: parsed.registry,
    repository: parsed.repository,
    parsed,
    remote,
    client,
    display: displayRef(name),
    close: () => client.close(),
  };
}

/** Opens a registry (for `repo ls`, `login`): `host[:port]` or `host/namespace`. */
export async function openRegistry(
  arg: string,
  flags: RemoteFlags,
): Promise<{ registry: Registry; host: string; namespace?: string; client: RegistryClient; close(): Promise<void> }> {
  const { registry: host, repository } = parseRegistryOrRepository(arg);
  cliState.errorContext.registry = host;
  const client = await clientFor(host, flags);
  const { Registry } = await import('../registry/registry.js');
  const registry = new Registry({ registry: host, client });
  return {
    registry,
    host,
    ...(repository !== undefined ? { namespace: repository } : {}),
    client,
    close: () => client.close(),
  };
}

/**
 * Opens a source for reading (pull, cp source): when the oras config lists
 * `mirrors` for the reference's registry, each mirror is tried first (same
 * repository path; the first that resolves the reference wins), then the
 * registry itself. Layouts and registries without mirrors open directly.
 */
export async function openSource(
  arg: string,
  flags: RemoteFlags,
  options: OpenTargetOptions = {},
): Promise<OpenedTarget> {
  if (flags.ociLayout === true) return openTarget(arg, flags, { ...options, readOnly: true });
  const parsed = parseReference(arg);
  const config = options.config ?? (await cliConfig());
  const mirrors = registrySettings(config, parsed.registry).mirrors ?? [];
  for (const mirror of mirrors) {
    const mirrorRef = `${mirror}/${parsed.repository}${parsed.tag !== undefined ? `:${parsed.tag}` : ''}${parsed.digest !== undefined ? `@${parsed.digest}` : ''}`;
    let opened: OpenedTarget | undefined;
    try {
      // Explicit credentials belong to the registry the user named, never to a mirror.
      const { username: _u, password: _p, passwordStdin: _s, identityToken: _t, ...mirrorFlags } = flags;
      opened = await openTarget(mirrorRef, mirrorFlags, { ...options, config });
      await opened.target.resolve(opened.reference ?? 'latest', { signal: AbortSignal.timeout(30_000) });
      if (cliState.verbose) errLine(`Using mirror ${mirror} for ${parsed.registry}`);
      return opened;
    } catch {
      await opened?.close().catch(() => undefined);
      if (cliState.verbose) errLine(`Mirror ${mirror} does not have ${arg}; trying the next source`);
    }
  }
  return openTarget(arg, flags, { ...options, config });
}

/** The `[kind]` oras prints before a reference: `registry` or `oci-layout`. */
export function kindLabel(kind: string): string {
  return kind === 'layout' ? 'oci-layout' : kind;
}
