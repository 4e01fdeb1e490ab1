/**
 * The pure first step of {@link packArtifact}: titles of the inputs and the
 * annotations given for them, validated before any file is read.
 */
import path from 'node:path';
import { OrasError } from '../errors.js';
import type { PackArtifactOptions, PackFileInput } from './pack.js';
import { normalizeRelativePath } from './safe-path.js';

/** An input with its final title and absolute path. */
export interface TitledInput extends PackFileInput {
  title: string;
  abs: string;
}

/** The validated inputs of a pack. */
export interface PackInputs {
  inputs: TitledInput[];
  /** Layer annotations by title (without `$config` / `$manifest`). */
  fileAnnotations: Record<string, Record<string, string>>;
  /** Annotations of the config (`$config`), if any. */
  configAnnotations: Record<string, string> | undefined;
  /** `annotations` merged with `$manifest`. */
  manifestAnnotations: Record<string, string>;
}

function usage(message: string, hint: string): never {
  throw new OrasError('ERR_ORAS_USAGE', message, { hint });
}

/** Title rules of the Go oras CLI: the given path, cleaned, POSIX; absolute / escaping paths need `allowAbsolutePaths`. */
export function titleForPath(given: string, allowAbsolutePaths = false): string {
  const posix = given.split(path.sep).join('/');
  const cleaned = path.posix.normalize(posix).replace(/\/+$/, '');
  const escaping = path.isAbsolute(given) || cleaned === '..' || cleaned.startsWith('../');
  if (escaping) {
    if (allowAbsolutePaths) return cleaned;
    throw new OrasError(
      'ERR_ORAS_PATH_TRAVERSAL',
      `refusing to use ${JSON.stringify(given)} as a title: absolute or outside the working directory`,
      {
        hint: 'give a relative path, set an explicit title, or pass --disable-path-validation (allowAbsolutePaths)',
      },
    );
  }
  return normalizeRelativePath(cleaned);
}

/**
 * Titles every input (unique, `ERR_ORAS_USAGE` otherwise) and splits
 * `fileAnnotations` into layer, config and manifest annotations; refuses
 * annotations for unknown titles, `$config` without a config and a manifest
 * annotation given twice with different values.
 */
export function planPackInputs(options: PackArtifactOptions, cwd: string): PackInputs {
  const fileAnn = { ...(options.fileAnnotations ?? {}) };
  const manifestExtra = fileAnn.$manifest;
  const configAnn = fileAnn.$config;
  delete fileAnn.$manifest;
  delete fileAnn.$config;
  const titles = new Set<string>();
  const inputs = options.files.map((f) => {
    const title =
      f.title !== undefined
        ? options.allowAbsolutePaths
          ? f.title
          : normalizeRelativePath(f.title)
        : titleForPath(f.path, options.allowAbsolutePaths);
    if (titles.has(title))
      usage(`duplicate title ${JSON.stringify(title)}`, 'each file must have a unique title (path)');
    titles.add(title);
    return { ...f, title, abs: path.resolve(cwd, f.path) };
  });
  for (const key of Object.keys(fileAnn)) {
    if (!titles.has(key))
      usage(
        `annotations given for ${JSON.stringify(key)}, which is not a pushed file`,
        'annotation keys must be a file title, $config or $manifest',
      );
  }
  if (options.config === undefined && configAnn !== undefined) {
    usage('$config annotations need a config file', 'pass a config (e.g. /dev/null:<media type>) to annotate it');
  }
  const manifestAnnotations: Record<string, string> = { ...(options.annotations ?? {}) };
  for (const [k, v] of Object.entries(manifestExtra ?? {})) {
    if (k in manifestAnnotations && manifestAnnotations[k] !== v)
      usage(
        `manifest annotation ${JSON.stringify(k)} is given twice with different values`,
        'set each annotation once',
      );
    manifestAnnotations[k] = v;
  }
  return { inputs, fileAnnotations: fileAnn, configAnnotations: configAnn, manifestAnnotations };
}
