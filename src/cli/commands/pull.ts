import type { Command } from 'commander';
import { pullArtifact, type PullArtifactResult } from '../../artifact/pull.js';
import { fetchAll } from '../../content/read.js';
import { streamToFileAtomic, writeFileAtomic } from '../../content/fs-atomic.js';
import { Annotation } from '../../oci/media-types.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import { collect, splitFileArg } from '../args.js';
import { cliConfig, effectiveConcurrency } from '../config.js';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { assertNoSymlinkEscape, resolveInside } from '../../artifact/safe-path.js';
import type { ReadOnlyTarget } from '../../content/store.js';
import { OrasError } from '../../errors.js';
import { cliState, errLine, interrupt, outLine } from '../context.js';
import { printResult, progressFormat } from '../output-format.js';
import {
  addConcurrencyOption,
  addTargetCommandOptions,
  remoteFlagsOf,
  TEMPLATE_FORMATS,
  ttyEnabled,
  type CommonFlags,
} from '../options.js';
import { progressFor, PULL_VERBS } from '../render/progress.js';
import { kindLabel, openSource } from '../targets.js';
import { maxArtifactBytes } from '../transfer-limits.js';
import { resolveForPlatform } from '../platform.js';

/** Flags of `oras pull`. */
interface PullFlags extends CommonFlags {
  platform?: string;
  output?: string;
  allowedMediaType?: string[];
  mediaType?: string[];
  allowAll?: boolean;
  includeSubject?: boolean;
  keepOldFiles?: boolean;
  allowPathTraversal?: boolean;
  allowVcsPaths?: boolean;
  maxArtifactSize?: string;
  exportManifest?: string;
  concurrency?: number;
  config?: string;
}

/**
 * `pull --config PATH[:MEDIATYPE]` (oras 1.3 root/pull.go): also writes the
 * pulled manifest's config blob to PATH, relative to the output directory
 * (checked like a layer title: inside it unless `-T`), verified and atomic;
 * skipped when MEDIATYPE is given and differs. An existing file with `-k`
 * joins `kept`. Returns the absolute path written, if any.
 */
async function writeConfigFile(
  target: ReadOnlyTarget,
  result: PullArtifactResult,
  outDir: string,
  arg: string,
  opts: PullFlags,
): Promise<string | undefined> {
  const { path: rel, mediaType } = splitFileArg(arg, () => false);
  const config = result.manifest.config;
  if (mediaType !== undefined && config.mediaType !== mediaType) return undefined;
  const root = resolve(outDir);
  const traversal = opts.allowPathTraversal === true;
  const abs = resolveInside(root, rel, { allowTraversal: traversal });
  if (opts.keepOldFiles === true && existsSync(abs)) {
    result.kept.push(rel);
    return undefined;
  }
  await mkdir(dirname(abs), { recursive: true });
  if (!traversal) await assertNoSymlinkEscape(root, abs);
  await streamToFileAtomic(abs, await target.fetch(config, { signal: interrupt.signal }), {
    expected: config,
    signal: interrupt.signal,
  });
  return abs;
}

/** One file in the JSON result of `pull` (oras 1.3's shape plus `directory`). */
export interface PulledFileJson {
  /** Absolute path; directories end with `/` (oras 1.3). */
  path: string;
  /** `name@digest` of the layer. */
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  directory: boolean;
}

/**
 * The JSON result of `pull`: oras 1.3's `reference` (`name@digest` of the
 * pulled manifest) and `files` (every file pulled, the subject chain's
 * included), plus this project's manifest details, `kept`, `skipped` and
 * the nested `subject` result.
 */
export interface PullResultJson {
  reference: string;
  files: PulledFileJson[];
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  /** Paths left alone (`--keep-old-files`). */
  kept: string[];
  /** Layers not pulled: `untitled`, `media-type` (not allowed) or `excluded`. */
  skipped: { digest: string; title?: string; reason: string }[];
  subject?: Omit<PullResultJson, 'subject' | 'files'> & { subject?: unknown };
}

function filesJson(r: PullArtifactResult, name: string, outDir: string): PulledFileJson[] {
  return r.files.map((f) => {
    const annotations = r.manifest.layers[f.layer]?.annotations;
    return {
      path: `${resolve(outDir, f.path)}${f.directory ? sep : ''}`,
      reference: `${name}@${f.digest}`,
      mediaType: f.mediaType,
      digest: f.digest,
      size: f.size,
      ...(annotations !== undefined ? { annotations } : {}),
      directory: f.directory,
    };
  });
}

function toJson(r: PullArtifactResult, name: string): Omit<PullResultJson, 'files'> {
  return {
    reference: `${name}@${r.descriptor.digest}`,
    mediaType: r.descriptor.mediaType,
    digest: r.descriptor.digest,
    size: r.descriptor.size,
    ...(r.manifest.artifactType !== undefined ? { artifactType: r.manifest.artifactType } : {}),
    kept: r.kept,
    skipped: r.skipped.map((s) => {
      const title = s.layer.annotations?.[Annotation.Title];
      return { digest: s.layer.digest, ...(title !== undefined ? { title } : {}), reason: s.reason };
    }),
    ...(r.subject !== undefined ? { subject: toJson(r.subject, name) } : {}),
  };
}

/** The whole `--format json` document of a pull into `outDir`. */
export function pullDocument(result: PullArtifactResult, name: string, outDir: string): PullResultJson {
  const files: PulledFileJson[] = [];
  for (let r: PullArtifactResult | undefined = result; r !== undefined; r = r.subject)
    files.push(...filesJson(r, name, outDir));
  const { reference, ...rest } = toJson(result, name);
  return { reference, files, ...rest };
}

/** `oras pull REF [-o DIR]`. */
export function registerPull(program: Command): void {
  const cmd = program
    .command('pull')
    .description('pull the files of an artifact from a registry or OCI layout')
    .argument('<reference>', 'registry/repo[:tag|@digest] (or DIR[:tag|@digest] with --oci-layout)')
    .option('-o, --output <dir>', 'output directory (default: current directory)')
    .option('--allowed-media-type <type>', 'pull only layers of this media type, repeatable', collect)
    .option('--media-type <type>', 'alias of --allowed-media-type (oras 0.x)', collect)
    .option('-a, --allow-all', 'allow all media types (the default; kept for oras 0.x scripts)')
    .option(
      '--platform <platform>',
      'pull the manifest of this platform from a multi-platform index: os[/arch][/variant][:os_version]',
    )
    .option('--include-subject', 'recursively pull the subject of artifacts (the whole subject chain, as oras 1.3)')
    .option(
      '-k, --keep-old-files',
      'do not replace existing files; an existing file is an error (exit 1) after the others are pulled',
    )
    .option('-T, --allow-path-traversal', 'allow file titles that point outside the output directory')
    .option(
      '--allow-vcs-paths',
      'allow writing into version-control metadata (.git/, .hg/, .svn/, …); refused by default',
    )
    .option(
      '--max-artifact-size <bytes>',
      'refuse artifacts declaring more than this (k/M/G/T suffixes; default: ORAS_MAX_ARTIFACT_SIZE, limits.maxArtifactBytes, else 64G)',
    )
    .option('--export-manifest <file>', 'also write the pulled manifest to FILE')
    .option('--config <path>', 'output manifest config file: PATH[:MEDIATYPE] (relative to the output directory)');
  addConcurrencyOption(cmd);
  addTargetCommandOptions(cmd, {}, TEMPLATE_FORMATS);
  cmd.action(async (refArg: string, opts: PullFlags & Record<string, unknown>) => {
    const flags = remoteFlagsOf(opts);
    const source = await openSource(refArg, flags);
    try {
      const ref = source.reference ?? 'latest';
      const allowed = [...(opts.allowedMediaType ?? []), ...(opts.mediaType ?? [])];
      const cfg = await cliConfig();
      const progress = progressFor(progressFormat(), ttyEnabled(opts), PULL_VERBS);
      let result: PullArtifactResult;
      try {
        const selected =
          opts.platform === undefined
            ? ref
            : (await resolveForPlatform(source.target, ref, opts.platform, source.display(ref))).digest;
        result = await pullArtifact(source.target, selected, opts.output ?? process.cwd(), {
          ...(allowed.length > 0 && opts.allowAll !== true ? { allowedMediaTypes: allowed } : {}),
          ...(opts.includeSubject === true ? { includeSubject: true } : {}),
          ...(opts.keepOldFiles === true ? { keepOldFiles: true } : {}),
          ...(opts.allowPathTraversal === true ? { allowPathTraversal: true } : {}),
          ...(opts.allowVcsPaths === true ? { allowVcsPaths: true } : {}),
          ...maxArtifactOption(maxArtifactBytes(opts.maxArtifactSize, cfg)),
          ...(cfg.limits.maxEntries !== undefined ? { maxEntries: cfg.limits.maxEntries } : {}),
          ...(cfg.limits.maxUncompressedBytes !== undefined
            ? { maxUncompressedBytes: cfg.limits.maxUncompressedBytes }
            : {}),
          concurrency: effectiveConcurrency(opts.concurrency, cfg),
          onEvent: progress.listener,
          signal: interrupt.signal,
        });
      } finally {
        progress.close();
      }
      if (opts.config !== undefined)
        await writeConfigFile(source.target, result, opts.output ?? process.cwd(), opts.config, opts);
      if (opts.exportManifest !== undefined) {
        await writeFileAtomic(
          opts.exportManifest,
          await fetchAll(source.target, result.descriptor, MAX_MANIFEST_BYTES, { signal: interrupt.signal }),
        );
      }
      const reference = source.display(ref);
      if (opts.keepOldFiles === true && result.kept.length > 0) {
        // oras 1.3: -k "do not replace existing files when pulling, treat them as errors".
        throw new OrasError(
          'ERR_ORAS_ALREADY_EXISTS',
          `${result.kept.length === 1 ? 'file already exists' : 'files already exist'}: ${result.kept.join(', ')}`,
          { hint: 'remove them, or pull without -k/--keep-old-files to replace them' },
        );
      }
      if (cliState.format !== 'text') {
        printResult(pullDocument(result, source.name, opts.output ?? process.cwd()), () => undefined);
        return;
      }
      const untitled = result.skipped.filter((s) => s.reason === 'untitled').length;
      if (untitled > 0) {
        errLine(`Skipped pulling ${untitled} layer(s) without a file name in "${Annotation.Title}"`);
        errLine(`Use 'oras copy ${refArg} --to-oci-layout <dir>' to pull all layers.`);
      }
      const all: PullArtifactResult[] = [];
      for (let r: PullArtifactResult | undefined = result; r !== undefined; r = r.subject) all.push(r);
      // One write for the whole summary (a line per file: thousands of lines for many small files).
      const lines: string[] = [];
      for (const r of all) for (const f of r.files) lines.push(`Downloaded ${f.path}${f.directory ? '/' : ''}`);
      for (const r of all) for (const k of r.kept) lines.push(`Kept ${k} (exists)`);
      if (all.every((r) => r.files.length === 0 && r.kept.length === 0))
        lines.push('No files pulled: the artifact has no titled layers that match');
      lines.push(`Pulled [${kindLabel(source.kind)}] ${reference}`);
      lines.push(`Digest: ${result.descriptor.digest}`);
      outLine(lines.join('\n'));
    } finally {
      await source.close();
    }
  });
}

/** `{ maxArtifactBytes }` when a limit was configured. */
function maxArtifactOption(n: number | undefined): { maxArtifactBytes?: number } {
  return n === undefined ? {} : { maxArtifactBytes: n };
}
