import { Option, type Command } from 'commander';
import {
  packArtifact,
  type PackArtifactOptions,
  type PackArtifactResult,
  type PackFileInput,
} from '../../artifact/pack.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../content/fs-atomic.js';
import { MediaType } from '../../oci/media-types.js';
import { collect, parseAnnotations, readAnnotationFile, splitFileArg, splitRefTags } from '../args.js';
import { effectiveConcurrency, cliConfig } from '../config.js';
import { cliState, interrupt, outLine } from '../context.js';
import { usageError } from '../errors.js';
import {
  addConcurrencyOption,
  addTargetCommandOptions,
  remoteFlagsOf,
  TEMPLATE_FORMATS,
  ttyEnabled,
  type CommonFlags,
} from '../options.js';
import { encodePlatform } from '../index-json.js';
import { printResult, progressFormat } from '../output-format.js';
import { parsePlatform } from '../platform.js';
import { progressFor, PUSH_VERBS, type TransferStats } from '../render/progress.js';
import { kindLabel, openTarget, type OpenedTarget } from '../targets.js';

/** Flags `push` and `attach` share for packing files into a manifest. */
export interface PackFlags extends CommonFlags {
  exportManifest?: string;
  disablePathValidation?: boolean;
  concurrency?: number;
}

/** Flags of `oras push`. */
interface PushFlags extends PackFlags {
  artifactType?: string;
  config?: string;
  manifestConfig?: string;
  annotation?: string[];
  annotationFile?: string;
  imageSpec?: 'v1.1' | 'v1.0';
  artifactPlatform?: string;
}

/**
 * `--artifact-platform os/arch[/variant][:os_version]` as oras 1.3 applies it
 * (root/push.go): the config becomes an image config
 * (`application/vnd.oci.image.config.v1+json`) holding just the platform, as
 * Go marshals it (`{"architecture":…,"os":…,"variant":…}`), written to a
 * temporary file for the packer; with image-spec v1.1 the artifact type
 * still defaults to `application/vnd.unknown.artifact.v1`.
 */
async function platformConfig(
  opts: PushFlags,
): Promise<{ config: { path: string; mediaType: string }; artifactType?: string; cleanup: () => Promise<void> }> {
  const platform = parsePlatform(opts.artifactPlatform ?? '', '--artifact-platform');
  if (opts.imageSpec === 'v1.0' && opts.artifactType !== undefined)
    throw usageError(
      'artifact type cannot be customized for OCI image-spec v1.0 when platform is specified',
      'consider using image spec v1.1 or remove --artifact-type',
    );
  const dir = await mkdtemp(join(tmpdir(), 'oras-platform-'));
  const path = join(dir, 'config.json');
  await writeFile(path, encodePlatform(platform));
  return {
    config: { path, mediaType: MediaType.ImageConfig },
    ...(opts.imageSpec !== 'v1.0' ? { artifactType: opts.artifactType ?? MediaType.UnknownArtifact } : {}),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The JSON result of `push`: oras 1.3's document (`reference` as
 * `name@digest`, the manifest descriptor's `mediaType`, `digest`, `size`,
 * `annotations`, `artifactType`, and `referenceAsTags`, sorted, like oras)
 * plus this project's `tags` and `transfer`.
 */
export interface PushResultJson {
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  /** `name:tag` for every tag pushed, sorted (oras 1.3). */
  referenceAsTags: string[];
  tags: string[];
  /** Blobs uploaded / already present (including the manifest). */
  transfer: { uploaded: number; exists: number; mounted: number; bytes: number };
}

/** Parses `--config FILE[:MEDIATYPE]` (default media type `application/vnd.unknown.config.v1+json`). */
export function parseConfigArg(arg: string): { path: string; mediaType: string } {
  const { path, mediaType } = splitFileArg(arg);
  return { path, mediaType: mediaType ?? MediaType.UnknownConfig };
}

/** `created` and tar mtime from `SOURCE_DATE_EPOCH` (reproducible builds), when set. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): { created: string; mtime: number } | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw))
    throw usageError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(raw)}`);
  const secs = Number(raw);
  return { created: new Date(secs * 1000).toISOString().replace(/\.000Z$/, 'Z'), mtime: secs };
}

/**
 * Packs `files` (`FILE[:MEDIATYPE]` arguments) into an artifact pushed to
 * `target` with the settings push and attach share: `SOURCE_DATE_EPOCH`,
 * `--disable-path-validation`, `--concurrency` (else the oras config, else 3),
 * progress on stderr and `--export-manifest`. `manifest` holds the
 * command's own pack options (annotations, artifact type, subject, tags, …).
 */
export async function packFiles(
  target: OpenedTarget,
  files: string[],
  opts: PackFlags,
  manifest: Omit<PackArtifactOptions, 'files'>,
): Promise<{ result: PackArtifactResult; stats: TransferStats }> {
  const inputs: PackFileInput[] = files.map((f) => {
    const { path, mediaType } = splitFileArg(f);
    return { path, ...(mediaType !== undefined ? { mediaType } : {}) };
  });
  const epoch = sourceDateEpoch();
  const cfg = await cliConfig();
  const progress = progressFor(progressFormat(), ttyEnabled(opts), PUSH_VERBS);
  let result: PackArtifactResult;
  try {
    result = await packArtifact(target.target, {
      files: inputs,
      ...manifest,
      ...(epoch !== undefined ? { created: epoch.created, mtime: epoch.mtime } : {}),
      allowAbsolutePaths: opts.disablePathValidation === true,
      concurrency: effectiveConcurrency(opts.concurrency, cfg),
      onEvent: progress.listener,
      signal: interrupt.signal,
    });
  } finally {
    progress.close();
  }
  if (opts.exportManifest !== undefined) await writeFileAtomic(opts.exportManifest, result.manifestBytes);
  return { result, stats: progress.stats };
}

/** `oras push REF[,TAG...] FILE[:MEDIATYPE]...`. */
export function registerPush(program: Command): void {
  const cmd = program
    .command('push')
    .description('push files (and directories) to a registry or OCI layout as an artifact')
    .argument('<reference>', 'registry/repo[:tag][,tag...] (or DIR[:tag] with --oci-layout)')
    .argument('[files...]', 'FILE[:MEDIATYPE] to push; directories are packed as tar+gzip')
    .option('--artifact-type <type>', 'artifact type of the manifest')
    .option(
      '--config <file>',
      'manifest config FILE[:MEDIATYPE] (default media type application/vnd.unknown.config.v1+json)',
    )
    .option('--manifest-config <file>', 'alias of --config')
    .option('-a, --annotation <key=value>', 'manifest annotation, repeatable', collect)
    .option('--annotation-file <file>', 'JSON file of annotations: keys are file names, $manifest, $config')
    .addOption(
      new Option('--image-spec <version>', 'OCI image-spec version of the manifest')
        .choices(['v1.1', 'v1.0'])
        .default('v1.1'),
    )
    .option('--export-manifest <file>', 'also write the pushed manifest to FILE')
    .option('--disable-path-validation', 'allow absolute paths and paths outside the working directory as titles')
    .option(
      '--artifact-platform <platform>',
      '[Experimental] set artifact platform in the form of os[/arch][/variant][:os_version] (an image config holding it)',
    );
  addConcurrencyOption(cmd);
  addTargetCommandOptions(cmd, { shortRegistryConfig: false }, TEMPLATE_FORMATS);
  cmd.action(async (refArg: string, files: string[], opts: PushFlags & Record<string, unknown>) => {
    const flags = remoteFlagsOf(opts);
    if (opts.config !== undefined && opts.manifestConfig !== undefined)
      throw usageError('--config and --manifest-config are the same option; give one');
    const configArg = opts.config ?? opts.manifestConfig;
    if (configArg !== undefined && opts.artifactPlatform !== undefined)
      throw usageError('--config, --artifact-platform cannot be used at the same time');
    const fromPlatform = opts.artifactPlatform !== undefined ? await platformConfig(opts) : undefined;
    const config = configArg !== undefined ? parseConfigArg(configArg) : fromPlatform?.config;
    if (configArg !== undefined) cliState.errorContext.customConfig = true;
    const artifactType = fromPlatform !== undefined ? fromPlatform.artifactType : opts.artifactType;
    if (opts.imageSpec === 'v1.0' && opts.artifactType !== undefined && config !== undefined) {
      throw usageError(
        '--artifact-type cannot be combined with --config for --image-spec v1.0',
        'image-spec v1.0 manifests carry the type in the config media type',
      );
    }
    const { ref, extraTags } = splitRefTags(refArg);
    const target = await openTarget(ref, flags).catch(async (err: unknown) => {
      await fromPlatform?.cleanup();
      throw err;
    });
    try {
      if (target.digest !== undefined)
        throw usageError('cannot push to a digest reference', 'push to a tag, e.g. registry/repo:v1');
      const tags = [target.tag ?? 'latest', ...extraTags];
      const annotations = parseAnnotations(opts.annotation);
      const fileAnnotations =
        opts.annotationFile !== undefined ? await readAnnotationFile(opts.annotationFile) : undefined;
      const { result, stats } = await packFiles(target, files, opts, {
        ...(config !== undefined ? { config } : {}),
        ...(artifactType !== undefined ? { artifactType } : {}),
        annotations,
        ...(fileAnnotations !== undefined ? { fileAnnotations } : {}),
        ...(opts.imageSpec !== undefined ? { imageSpec: opts.imageSpec } : {}),
        tags,
      });
      const d = result.descriptor;
      const json: PushResultJson = {
        reference: target.display(d.digest),
        mediaType: d.mediaType,
        digest: d.digest,
        size: d.size,
        ...(result.manifest.annotations !== undefined ? { annotations: result.manifest.annotations } : {}),
        ...(result.manifest.artifactType !== undefined ? { artifactType: result.manifest.artifactType } : {}),
        referenceAsTags: [...tags].sort().map((t) => target.display(t)),
        tags,
        transfer: { uploaded: stats.transferred, exists: stats.exists, mounted: stats.mounted, bytes: stats.bytes },
      };
      printResult(json, () => {
        // oras 1.3: `Pushed [registry] REF` (the reference as given), `Tagged T` per extra tag.
        outLine(`Pushed [${kindLabel(target.kind)}] ${target.display(tags[0])}`);
        for (const t of extraTags) outLine(`Tagged ${t}`);
        const artifactType =
          result.manifest.artifactType ?? (opts.imageSpec === 'v1.0' ? result.manifest.config.mediaType : undefined);
        if (artifactType !== undefined) outLine(`ArtifactType: ${artifactType}`);
        outLine(`Digest: ${d.digest}`);
      });
    } finally {
      await target.close();
      await fromPlatform?.cleanup();
    }
  });
}
