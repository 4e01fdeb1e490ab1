import type { Command } from 'commander';
import { fetchAll } from '../content/read.js';
import { OrasError } from '../errors.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { interrupt } from './context.js';
import { usageError } from './errors.js';
import type { CliTarget } from './targets.js';

/**
 * `--platform os[/arch][/variant][:os_version]` as oras 1.3 parses and
 * applies it (cmd/oras/internal/option/platform.go, oras-go
 * `internal/platform`): on an index, the first child whose platform matches
 * (os and architecture equal; variant and os version when given); on a single
 * image manifest, its config's platform must match. No match is
 * `ERR_ORAS_NOT_FOUND` listing what is available.
 */

/** Go's GOARCH for Node's `process.arch` (oras defaults a missing arch to its own GOARCH). */
function goArch(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm: 'arm',
    arm64: 'arm64',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return map[process.arch] ?? process.arch;
}

/** Parses `os[/arch][/variant][:os_version]` (a missing arch is this machine's, like oras). */
export function parsePlatform(value: string, flag = '--platform'): Platform {
  const [spec = '', osVersion] = value.split(/:(.*)/s);
  const parts = spec.split('/');
  if (parts.length > 3)
    throw usageError(
      `failed to parse platform ${JSON.stringify(value)}: expected format os[/arch[/variant]]`,
      `e.g. ${flag} linux/amd64`,
    );
  const [os = '', arch = goArch(), variant] = parts;
  if (os === '') throw usageError('invalid platform: OS cannot be empty', `e.g. ${flag} linux/amd64`);
  if (arch === '') throw usageError('invalid platform: Architecture cannot be empty', `e.g. ${flag} linux/amd64`);
  return {
    os,
    architecture: arch,
    ...(variant !== undefined && variant !== '' ? { variant } : {}),
    ...(osVersion !== undefined && osVersion !== '' ? { 'os.version': osVersion } : {}),
  };
}

/** Adds `--platform` (the request platform). */
export function addPlatformOption(cmd: Command, description = 'request platform'): Command {
  return cmd.option('--platform <platform>', `${description} in the form of os[/arch][/variant][:os_version]`);
}

/** `os/arch[/variant][:os_version]` of a platform. */
export function platformString(p: Platform | undefined): string {
  if (p === undefined) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ''}${p['os.version'] !== undefined ? `:${p['os.version']}` : ''}`;
}

/** oras-go `platform.Match`: os and architecture equal; variant and os.version only when wanted. */
export function platformMatches(got: Platform | undefined, want: Platform): boolean {
  if (got === undefined) return false;
  if (got.os !== want.os || got.architecture !== want.architecture) return false;
  if (want.variant !== undefined && got.variant !== want.variant) return false;
  if (want['os.version'] !== undefined && got['os.version'] !== want['os.version']) return false;
  return true;
}

const IMAGE_CONFIGS = new Set<string>([MediaType.ImageConfig, 'application/vnd.docker.container.image.v1+json']);

/**
 * The manifest `root` (with its verified `bytes`) selected for `platform`
 * string: `root` itself when no platform is asked for; the matching child
 * of an index (fetched and verified); or `root` when it is an image manifest
 * whose config platform matches.
 */
export async function selectPlatform(
  target: CliTarget,
  fetched: { descriptor: Descriptor; bytes: Buffer },
  platform: string | undefined,
  what: string,
): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  if (platform === undefined) return fetched;
  const want = parsePlatform(platform);
  const parsed = parseManifest(fetched.bytes, fetched.descriptor.mediaType);
  if (parsed.kind === 'index') {
    const match = parsed.index.manifests.find((m) => platformMatches(m.platform, want));
    if (match === undefined) {
      const available = parsed.index.manifests.map((m) => platformString(m.platform));
      throw new OrasError(
        'ERR_ORAS_NOT_FOUND',
        `${what}: no matching manifest was found in the manifest list for platform ${platformString(want)}`,
        {
          hint: `available platforms: ${available.join(', ') || 'none'}`,
        },
      );
    }
    return {
      descriptor: match,
      bytes: await fetchAll(target, match, MAX_MANIFEST_BYTES, { signal: interrupt.signal }),
    };
  }
  const config = parsed.manifest.config;
  if (!IMAGE_CONFIGS.has(config.mediaType)) {
    throw new OrasError('ERR_ORAS_UNSUPPORTED', `${what}: config media type ${config.mediaType} carries no platform`, {
      hint: `drop --platform: ${what} is a single artifact, not a multi-platform image`,
    });
  }
  let got: Platform | undefined;
  try {
    got = JSON.parse(
      (await fetchAll(target, config, MAX_MANIFEST_BYTES, { signal: interrupt.signal })).toString('utf8'),
    ) as Platform;
  } catch (err) {
    if (err instanceof OrasError) throw err;
  }
  if (!platformMatches(got, want)) {
    throw new OrasError(
      'ERR_ORAS_NOT_FOUND',
      `${what}: platform in manifest does not match target platform ${platformString(want)}`,
      { hint: `the manifest is for ${platformString(got)}` },
    );
  }
  return fetched;
}

/**
 * Resolves `ref` on `target` to the manifest for `platform` (see
 * {@link selectPlatform}); without a platform, a plain resolve.
 */
export async function resolveForPlatform(
  target: CliTarget,
  ref: string,
  platform: string | undefined,
  what: string,
): Promise<Descriptor> {
  const descriptor = await target.resolve(ref, { signal: interrupt.signal });
  if (platform === undefined) return descriptor;
  const bytes = await fetchAll(target, descriptor, MAX_MANIFEST_BYTES, { signal: interrupt.signal });
  return (await selectPlatform(target, { descriptor, bytes }, platform, what)).descriptor;
}
