import type { Command } from 'commander';
import { collect, parseAnnotations, readAnnotationFile } from '../args.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { addConcurrencyOption, addTargetCommandOptions, remoteFlagsOf } from '../options.js';
import { openTarget } from '../targets.js';
import { packFiles, type PackFlags } from './push.js';

interface AttachFlags extends PackFlags {
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
    .option('--disable-path-validation', 'allow absolute paths and paths outside the working directory as titles');
  addConcurrencyOption(cmd);
  addTargetCommandOptions(cmd, { shortRegistryConfig: false });
  cmd.action(async (refArg: string, files: string[], opts: AttachFlags & Record<string, unknown>) => {
    if (opts.artifactType === undefined || opts.artifactType === '') throw usageError('--artifact-type is required', 'e.g. --artifact-type application/vnd.example.sbom');
    const annotations = parseAnnotations(opts.annotation);
    const fileAnnotations = opts.annotationFile !== undefined ? await readAnnotationFile(opts.annotationFile) : undefined;
    if (files.length === 0 && Object.keys(annotations).length === 0 && fileAnnotations?.$manifest === undefined) {
      throw usageError('nothing to attach', 'give files and/or --annotation');
    }
    cliState.errorContext.referrers = true;
    const target = await openTarget(refArg, remoteFlagsOf(opts), { requireReference: true });
    try {
      const subject = await target.target.resolve(target.reference ?? 'latest', { signal: interrupt.signal });
      const { result } = await packFiles(target, files, opts, {
        artifactType: opts.artifactType,
        annotations,
        ...(fileAnnotations !== undefined ? { fileAnnotations } : {}),
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      });
      const d = result.descriptor;
      if (cliState.format === 'json') {
        printJson({
          reference: target.display(d.digest),
          mediaType: d.mediaType,
          digest: d.digest,
          size: d.size,
          artifactType: opts.artifactType,
          ...(result.manifest.annotations !== undefined ? { annotations: result.manifest.annotations } : {}),
          subject: { reference: target.display(subject.digest), mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        });
        return;
      }
      outLine(`Attached to [${target.kind}] ${target.display(subject.digest)}`);
      outLine(`Digest: ${d.digest}`);
    } finally {
      await target.close();
    }
  });
}
