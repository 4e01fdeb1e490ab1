import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OrasError } from '../../errors.js';
import { stampFile } from './input-stamp.js';
import type { FileStamp, ProjectManifest } from '../types.js';
import { preloadValidators } from './schema-validators.js';
import { validateManifest } from './validate.js';
import { issuesError, parseYamlSource } from './yaml-errors.js';
import { parseCanonicalYaml } from './canonical-yaml.js';

/** File names of the project manifest, in lookup order. */
export const MANIFEST_FILE_NAMES = ['artifacts.yaml', 'artifacts.yml'] as const;

/** Largest artifacts.yaml accepted (1 MiB). */
export const MAX_MANIFEST_FILE_BYTES = 1024 * 1024;

/** A loaded project manifest. */
export interface LoadedManifest {
  manifest: ProjectManifest;
  /** Absolute path of the file it was read from. */
  file: string;
  /** The file's stat and the SHA-256 of the text parsed (`name`: artifacts.yaml or artifacts.yml). */
  stamp: FileStamp & { name: string };
}

/**
 * Parses and validates artifacts.yaml text (see `validateManifest` for the
 * checks and normalization). Throws `ERR_ORAS_CONFIG` listing every problem
 * as `file:line:col: path: message (fix: hint)`.
 */
export function parseManifestText(text: string, fileName = 'artifacts.yaml'): ProjectManifest {
  // Fast path for files in the canonical block subset (see canonical-yaml.ts); anything else, or
  // anything invalid, takes the full position-keeping parse (which words the error messages).
  const fast = parseCanonicalYaml(text);
  if (fast !== undefined) {
    const { value: manifest, issues } = validateManifest(fast);
    if (manifest !== undefined && issues.length === 0) return manifest;
  }
  const { source, value } = parseYamlSource(text, fileName, 'ERR_ORAS_CONFIG');
  const { value: manifest, issues } = validateManifest(value);
  if (manifest === undefined || issues.length > 0) throw issuesError('ERR_ORAS_CONFIG', source, issues);
  return manifest;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return false;
    throw new OrasError('ERR_ORAS_IO', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Finds and loads `artifacts.yaml` (or `artifacts.yml`) in `projectDir`.
 *
 * Errors (`ERR_ORAS_CONFIG`): no manifest (hint: create one), both names
 * present, file over {@link MAX_MANIFEST_FILE_BYTES}, YAML syntax errors,
 * validation issues (all listed at once, with line:col).
 */
export async function loadManifest(projectDir: string): Promise<LoadedManifest> {
  const dir = resolve(projectDir);
  await preloadValidators();
  const found: string[] = [];
  for (const name of MANIFEST_FILE_NAMES) if (await isFile(join(dir, name))) found.push(name);
  if (found.length === 0) {
    throw new OrasError('ERR_ORAS_CONFIG', `no artifacts.yaml in ${dir}`, {
      hint: 'create artifacts.yaml (see fixtures/example-project), or pass --project <dir>',
    });
  }
  if (found.length > 1) {
    throw new OrasError('ERR_ORAS_CONFIG', `both artifacts.yaml and artifacts.yml exist in ${dir}`, {
      hint: 'keep only one of them',
    });
  }
  const name = found[0]!;
  const file = join(dir, name);
  const st = await stat(file);
  if (st.size > MAX_MANIFEST_FILE_BYTES) {
    throw new OrasError(
      'ERR_ORAS_CONFIG',
      `${name} is ${st.size} bytes, over the ${MAX_MANIFEST_FILE_BYTES}-byte limit`,
      { hint: `is ${name} really a project manifest?` },
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrasError('ERR_ORAS_IO', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
  const manifest = parseManifestText(text, name);
  return { manifest, file, stamp: { ...stampFile(file, text), name } };
}
