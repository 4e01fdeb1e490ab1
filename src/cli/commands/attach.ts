import type { Command } from 'commander';
import { collect, parseAnnotations, readAnnotationFile } from '../args.js';
import { cliState, outLine } from '../context.js';
import { usageError } from '../errors.js';
import { addConcurrencyOption, addTargetCommandOptions, remoteFlagsOf, TEMPLATE_FORMATS } from '../options.js';
import { printResult } from '../output-format.js';
import { kindLabel, openTarget } from '../targets.js';
import { resolveForPlatform } from '../platform.js';
import { packFiles, type PackFlags } from './push.js';

interface AttachFlags extends PackFlags {
  platform?: string;
  artifactType?: string;
  annotation?: string[];
  annotationFile?: string;
}

/** `oras attach REF --artifact-type T FILE[:MT]...`: pushes an artifact whose subject is REF. */
export function registerAttach(program: Command): void {
  const cmd = program
    .command('attach')
    .description('attach files to an existing artifact as a referrer (its subject)')
    .argument('<reference>', 'registry/repo:tag|@digest of the subject')
    .argument('[files...]', 'FILE[:MEDIATYPE] to attach')
    .option('--artifact-type <type>', 'artifact type of the new manifest (required)')
    .option('-a, --annotation <key=value>', 'manifest annotation, repeatable', collect)
    .option('--annotation-file <file>', 'JSON file of annotations: keys are file names, $manifest, $config')
    .option('--export-manifest <file>', 'also write the pushed manifest to FILE')
    .option(
      '--platform <platform>',
      'attach to the manifest of this platform in a multi-platform index: os[/arch][/variant][:os_version]',
    )
    .option('--disable-path-validation', 'allow absolute paths and paths outside the working directory as titles');
  addConcurrencyOption(cmd);
  addTargetCommandOptions(cmd, { shortRegistryConfig: false }, TEMPLATE_FORMATS);
  cmd.action(async (refArg: string, files: string[], opts: AttachFlags & Record<string, unknown>) => {
    if (opts.artifactType === undefined || opts.artifactType === '')
      throw usageError('--artifact-type is required', 'e.g. --artifact-type application/vnd.example.sbom');
    const annotations = parseAnnotations(opts.annotation);
    const fileAnnotations =
      opts.annotationFile !== undefined ? await readAnnotationFile(opts.annotationFile) : undefined;
    if (files.length === 0 && Object.keys(annotations).length === 0 && fileAnnotations?.$manifest === undefined) {
      throw usageError('nothing to attach', 'give files and/or --annotation');
    }
    cliState.errorContext.referrers = true;
    const target = await openTarget(refArg, remoteFlagsOf(opts), { requireReference: true });
    try {
      const ref = target.reference ?? 'latest';
      const subject = await resolveForPlatform(target.target, ref, opts.platform, target.display(ref));
      const { result } = await packFiles(target, files, opts, {
        artifactType: opts.artifactType,
        annotations,
        ...(fileAnnotations !== undefined ? { fileAnnotations } : {}),
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      });
      const d = result.descriptor;
      // oras 1.3's document (reference, mediaType, digest, size, annotations, artifactType) plus `subject`.
      const json = {
        reference: target.display(d.digest),
        mediaType: d.mediaType,
        digest: d.digest,
        size: d.size,
        ...(result.manifest.annotations !== undefined ? { annotations: result.manifest.annotations } : {}),
        artifactType: opts.artifactType,
        subject: {
          reference: target.display(subject.digest),
          mediaType: subject.mediaType,
          digest: subject.digest,
          size: subject.size,
        },
      };
      printResult(json, () => {
        outLine(`Attached to [${kindLabel(target.kind)}] ${target.display(subject.digest)}`);
        outLine(`Digest: ${d.digest}`);
      });
    } finally {
      await target.close();
    }
  });
}
