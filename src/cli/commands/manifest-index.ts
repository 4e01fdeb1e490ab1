import type { Command } from 'commander';
import { fetchAll } from '../../content/read.js';
import { writeFileAtomic } from '../../content/fs-atomic.js';
import { isOrasError, OrasError } from '../../errors.js';
import type { Descriptor, ImageIndex } from '../../oci/descriptor.js';
import { digestOf, isDigest } from '../../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../../oci/manifest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from '../../oci/media-types.js';
import { parseReference } from '../../oci/reference.js';
import { collect, parseAnnotations, splitRefTags } from '../args.js';
import { cliState, errLine, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import {
  encodeIndex,
  goIndent,
  isValidMediaType,
  MAX_PLATFORM_CONFIG_BYTES,
  platformFromConfig,
  removeDigests,
} from '../index-json.js';
import { addTargetCommandOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { kindLabel, openTarget, type OpenedTarget } from '../targets.js';

/**
 * `oras manifest index create|update` as in oras 1.3
 * (cmd/oras/root/manifest/index): the index is built from manifests already
 * in the same repository (or OCI layout), each entry carrying the platform
 * of its image config and its `artifactType`, serialized as oras does (see
 * `index-json.ts`) so the digest matches oras's. Status lines (`Fetching`,
 * `Fetched`, `Packed`, `Pushed`, …) go to stderr like every progress line
 * here; `Tagged T` and `Digest: …` go to stdout. `--output FILE|-` writes the
 * index instead of pushing it (`-`: the index alone on stdout).
 */

interface IndexFlags extends CommonFlags {
  annotation?: string[];
  artifactType?: string;
  output?: string;
  pretty?: boolean;
  add?: string[];
  merge?: string[];
  remove?: string[];
  tag?: string[];
}

/** Where the status lines go: stderr in text mode, nowhere with `--output -` or `--format json`. */
function statusSink(opts: IndexFlags): (line: string) => void {
  return opts.output === '-' || cliState.format !== 'text' ? () => undefined : errLine;
}

/**
 * The tag or digest `src` names in `target`'s repository: a bare tag or
 * digest, or (registries) a full reference to the same repository, as
 * oras-go's `Repository.ParseReference` accepts.
 */
function sourceRef(target: OpenedTarget, src: string): string {
  if (!src.includes('/') || target.kind !== 'registry') return src;
  const parsed = parseReference(src);
  if (parsed.registry !== target.registry || parsed.repository !== target.repository)
    throw usageError(
      `${src} is not in ${target.name}`,
      'all manifests of an index must be in the same repository: copy them there first (oras cp)',
    );
  return parsed.digest ?? parsed.tag ?? 'latest';
}

/** Fetches the manifest `ref` names (verified bytes; descriptor media type from the registry). */
async function fetchRef(target: OpenedTarget, ref: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const call = { signal: interrupt.signal };
  if (target.remote !== undefined) {
    const m = await target.remote.fetchManifest(ref, call);
    return { descriptor: m.descriptor, bytes: m.bytes };
  }
  const descriptor = await target.target.resolve(ref, call);
  if (!isManifestMediaType(descriptor.mediaType)) return { descriptor, bytes: Buffer.alloc(0) };
  return { descriptor, bytes: await fetchAll(target.target, descriptor, MAX_MANIFEST_BYTES, call) };
}

/**
 * Fetches `src` (printing oras's `Fetching`/`Fetched` lines) and checks it is
 * a manifest (`want: 'manifest'`: image manifest or index) or an index.
 */
async function fetchChecked(
  target: OpenedTarget,
  src: string,
  want: 'manifest' | 'index',
  status: (line: string) => void,
): Promise<{ descriptor: Descriptor; parsed: ParsedManifest }> {
  status(`Fetching  ${src}`);
  let fetched: { descriptor: Descriptor; bytes: Buffer };
  try {
    fetched = await fetchRef(target, sourceRef(target, src));
  } catch (err) {
    if (!isOrasError(err) || err.code === 'ERR_ORAS_USAGE') throw err;
    throw new OrasError(err.code, `could not find the ${want} ${src}: ${err.message}`, {
      cause: err,
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
    });
  }
  const { descriptor } = fetched;
  const ok = want === 'index' ? isIndexMediaType(descriptor.mediaType) : isManifestMediaType(descriptor.mediaType);
  if (!ok) throw new OrasError('ERR_ORAS_USAGE', `${src} is not ${want === 'index' ? 'an index' : 'a manifest'}`);
  status(isDigest(src) ? `Fetched   ${src}` : `Fetched   ${descriptor.digest} ${src}`);
  return { descriptor, parsed: parseManifest(fetched.bytes, descriptor.mediaType) };
}

/**
 * The index entry for a fetched manifest (oras 1.3 `enrichDescriptor`): the
 * plain descriptor, plus for an image manifest the platform of its config
 * (when the config is JSON with `os`/`architecture`) and its `artifactType`;
 * for an index its `artifactType`.
 */
async function indexEntry(target: OpenedTarget, descriptor: Descriptor, parsed: ParsedManifest): Promise<Descriptor> {
  const plain: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  if (parsed.kind === 'index')
    return { ...plain, ...(parsed.index.artifactType ? { artifactType: parsed.index.artifactType } : {}) };
  const config = parsed.manifest.config;
  if (config.size > MAX_PLATFORM_CONFIG_BYTES)
    throw new OrasError(
      'ERR_ORAS_MANIFEST_TOO_LARGE',
      `config size ${config.size} exceeds MaxBytes ${MAX_PLATFORM_CONFIG_BYTES}: size exceeds limit`,
      { hint: `the config of ${descriptor.digest} is too large to read its platform` },
    );
  const bytes = await fetchAll(target.target, config, MAX_PLATFORM_CONFIG_BYTES, { signal: interrupt.signal });
  const platform = platformFromConfig(bytes);
  const artifactType = parsed.manifest.artifactType;
  return { ...plain, ...(platform ? { platform } : {}), ...(artifactType ? { artifactType } : {}) };
}

/** What {@link emitIndex} pushes or writes. */
interface Emit {
  target: OpenedTarget;
  index: ImageIndex;
  /** The tag to push the index as; none pushes it by digest only. */
  tag: string | undefined;
  extraTags: string[];
  /** `[registry] REF` shown on the `Pushed` line. */
  pushedPath: string;
  /** The `Packed`/`Updated` status line for the index descriptor. */
  packedLine: (desc: Descriptor) => string;
}

/** Writes the index to `--output`, or pushes and tags it; then prints `Digest:` (or the JSON document). */
async function emitIndex(e: Emit, opts: IndexFlags, status: (line: string) => void): Promise<void> {
  const bytes = encodeIndex(e.index);
  const descriptor: Descriptor = {
    mediaType: e.index.mediaType ?? MediaType.ImageIndex,
    digest: digestOf(bytes),
    size: bytes.length,
  };
  status(e.packedLine(descriptor));
  if (opts.output === '-') {
    // oras 1.3: only the index on stdout (Go's json.Indent with --pretty, plus a newline).
    process.stdout.write(opts.pretty === true ? `${goIndent(bytes.toString('utf8'))}\n` : bytes);
    return;
  }
  const tags: string[] = [];
  if (opts.output !== undefined) {
    // oras 1.3 ignores --pretty when writing to a file.
    await writeFileAtomic(opts.output, bytes);
  } else {
    const call = { signal: interrupt.signal };
    if (e.tag !== undefined && e.target.remote !== undefined)
      await e.target.remote.pushReference(descriptor, bytes, e.tag, call);
    else {
      if (!(await e.target.target.exists(descriptor, call))) await e.target.target.push(descriptor, bytes, call);
      if (e.tag !== undefined) await e.target.target.tag(descriptor, e.tag, call);
    }
    if (e.tag !== undefined) tags.push(e.tag);
    status(`Pushed    ${e.pushedPath}`);
    for (const t of e.extraTags) {
      await e.target.target.tag(descriptor, t, call);
      tags.push(t);
      if (cliState.format === 'text') outLine(`Tagged ${t}`);
    }
  }
  if (cliState.format === 'json') {
    printJson({
      reference: e.target.display(descriptor.digest),
      ...descriptor,
      tags,
      ...(opts.output !== undefined ? { output: opts.output } : {}),
    });
    return;
  }
  outLine(`Digest: ${descriptor.digest}`);
}

/** oras 1.3 `descriptor.ShortDigest`: the first 12 hex digits of a sha256 digest (no algorithm), else the whole digest. */
function orasShortDigest(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(7, 19) : digest;
}

function checkArtifactType(artifactType: string | undefined): void {
  if (artifactType !== undefined && artifactType !== '' && !isValidMediaType(artifactType))
    throw usageError(
      `${artifactType}: invalid media type`,
      'an artifact type is a media type: type/subtype, e.g. application/vnd.example+type',
    );
}

function checkOutputFormat(opts: IndexFlags): void {
  if (opts.output === '-' && cliState.format !== 'text')
    throw usageError(`\`--output -\` cannot be used with \`--format ${cliState.format}\` at the same time`);
}

function registerCreate(index: Command): void {
  const cmd = index
    .command('create')
    .alias('pack')
    .description('create and push an index from manifests in the same repository')
    .argument('<target>', 'registry/repo[:tag][,tag...] (or DIR[:tag] with --oci-layout)')
    .argument('[sources...]', 'manifests to list, by tag or digest, in order')
    .option('-a, --annotation <key=value>', 'index annotation, repeatable', collect)
    .option('--artifact-type <type>', 'artifact type of the index')
    .option('-o, --output <path>', 'write the index to PATH instead of pushing it ("-" for stdout)')
    .option('--pretty', 'with --output -: pretty-print the index');
  addTargetCommandOptions(cmd);
  cmd.action(async (targetArg: string, sources: string[], opts: IndexFlags & Record<string, unknown>) => {
    checkOutputFormat(opts);
    const { ref: rawRef, extraTags } = splitRefTags(targetArg);
    checkArtifactType(opts.artifactType);
    const annotations = parseAnnotations(opts.annotation);
    const status = statusSink(opts);
    const target = await openTarget(rawRef, remoteFlagsOf(opts), { readOnly: opts.output !== undefined });
    try {
      const manifests: Descriptor[] = [];
      for (const src of sources) {
        const { descriptor, parsed } = await fetchChecked(target, src, 'manifest', status);
        manifests.push(await indexEntry(target, descriptor, parsed));
      }
      const idx: ImageIndex = {
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
        manifests,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      };
      await emitIndex(
        {
          target,
          index: idx,
          tag: target.digest === undefined ? target.tag : undefined,
          extraTags,
          pushedPath: `[${kindLabel(target.kind)}] ${rawRef}`,
          packedLine: (d) => `Packed    ${orasShortDigest(d.digest)} ${MediaType.ImageIndex}`,
        },
        opts,
        status,
      );
    } finally {
      await target.close();
    }
  });
}

/** oras 1.3's argument checks of `manifest index update` (PreRunE), before anything is read. */
function checkUpdateFlags(cmd: Command, opts: IndexFlags): boolean {
  if (opts.tag !== undefined && opts.output !== undefined)
    throw usageError('--tag, --output cannot be used at the same time');
  for (const r of opts.remove ?? []) if (!isDigest(r)) throw usageError(`remove: ${r} is not a digest`);
  checkOutputFormat(opts);
  const changed = ['add', 'remove', 'merge'].some(
    (k) => (opts[k as keyof IndexFlags] as unknown[] | undefined)?.length,
  );
  return changed || cmd.getOptionValueSource('artifactType') === 'cli';
}

function registerUpdate(index: Command): void {
  const cmd = index
    .command('update')
    .description('update and push an image index: add, merge or remove manifests')
    .argument('<index>', 'registry/repo:tag|@digest (or DIR:tag|@digest with --oci-layout)')
    .option('--add <manifest>', 'manifest (tag or digest) to add to the index, repeatable', collect)
    .option('--merge <index>', 'index (tag or digest) whose manifests are appended, repeatable', collect)
    .option('--remove <digest>', 'manifest digest to remove from the index, repeatable', collect)
    .option('--tag <tag>', 'extra tag for the updated index, repeatable', collect)
    .option('--artifact-type <type>', 'new artifact type of the index ("" removes it)')
    .option('-o, --output <path>', 'write the index to PATH instead of pushing it ("-" for stdout)')
    .option('--pretty', 'with --output -: pretty-print the index');
  addTargetCommandOptions(cmd);
  cmd.action(async (indexArg: string, opts: IndexFlags & Record<string, unknown>) => {
    if (!checkUpdateFlags(cmd, opts)) {
      outLine('Nothing to update as no change is requested');
      return;
    }
    checkArtifactType(opts.artifactType);
    const target = await openTarget(indexArg, remoteFlagsOf(opts), { readOnly: opts.output !== undefined });
    try {
      if (target.reference === undefined)
        throw usageError(
          `"${indexArg}": no tag or digest specified`,
          'Please specify a reference in the form of "<name>:<tag>" or "<name>@<digest>"',
        );
      await updateIndex(cmd, target, indexArg, opts);
    } finally {
      await target.close();
    }
  });
}

async function updateIndex(cmd: Command, target: OpenedTarget, indexArg: string, opts: IndexFlags): Promise<void> {
  const status = statusSink(opts);
  const ref = target.reference ?? 'latest';
  const fetched = await fetchChecked(target, ref, 'index', status);
  if (fetched.parsed.kind !== 'index') throw new OrasError('ERR_ORAS_USAGE', `${ref} is not an index`);
  const idx: ImageIndex = { ...fetched.parsed.index };
  if (cmd.getOptionValueSource('artifactType') === 'cli') {
    if (opts.artifactType) idx.artifactType = opts.artifactType;
    else delete idx.artifactType;
  }
  const removed = removeDigests(idx.manifests, opts.remove ?? []);
  if ('missing' in removed)
    throw new OrasError('ERR_ORAS_NOT_FOUND', `${removed.missing} does not exist in the index ${ref}`);
  const manifests = removed.kept;
  for (const d of opts.remove ?? []) status(`Removed   ${d}`);
  for (const src of opts.add ?? []) {
    const { descriptor, parsed } = await fetchChecked(target, src, 'manifest', status);
    manifests.push(await indexEntry(target, descriptor, parsed));
    status(isDigest(src) ? `Added     ${src}` : `Added     ${descriptor.digest} ${src}`);
  }
  for (const src of opts.merge ?? []) {
    const { descriptor, parsed } = await fetchChecked(target, src, 'index', status);
    if (parsed.kind === 'index') manifests.push(...parsed.index.manifests);
    status(isDigest(src) ? `Merged    ${src}` : `Merged    ${descriptor.digest} ${src}`);
  }
  idx.manifests = manifests;
  await emitIndex(
    {
      target,
      index: idx,
      tag: target.digest === undefined ? target.tag : undefined,
      extraTags: opts.tag ?? [],
      pushedPath: `[${kindLabel(target.kind)}] ${target.digest !== undefined ? target.name : indexArg}`,
      packedLine: (d) => `Updated   ${d.digest}`,
    },
    opts,
    status,
  );
}

/** `oras manifest index create|update`. */
export function registerManifestIndex(manifest: Command): void {
  const index = manifest.command('index').description('[Experimental] create and update image indexes');
  registerCreate(index);
  registerUpdate(index);
}
