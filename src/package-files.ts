/**
 * Files of the installed package that are not code: `package.json`,
 * `schemas/*.schema.json`, `dist/build-info.json`. They are found from the
 * package root, not from a path relative to the calling module, because the
 * same module runs at different depths: in the module tree
 * (`dist/project/spec/validate.js`, or `src/…` under vitest) and inside the
 * single-file CLI bundle (`dist/cli/main.js`, built from `src/cli/program.ts` by
 * `scripts/bundle-cli.mjs`).
 */
import { readFileSync } from 'node:fs';

/** The `name` in our package.json: the directory holding it is the package root. */
const PACKAGE_NAME = 'oras-ts';

/** Found root and its parsed package.json; `null` once a search found none (not searched again). */
let found: { root: URL; manifest: Record<string, unknown> } | null | undefined;

/**
 * The package root and its parsed `package.json`: the nearest directory above
 * this module (or the bundle it was built into) whose `package.json` is named
 * `oras-ts`. Undefined when there is none (code copied out of its package).
 * Searched once per process; the walk ends at the file-system root.
 */
function findPackage(): { root: URL; manifest: Record<string, unknown> } | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  let dir = new URL('./', import.meta.url);
  for (;;) {
    const manifest = readManifest(new URL('package.json', dir));
    if (manifest?.name === PACKAGE_NAME) {
      found = { root: dir, manifest };
      break;
    }
    const up = new URL('../', dir);
    if (up.href === dir.href) break;
    dir = up;
  }
  return found ?? undefined;
}

/** The package root (see {@link findPackage}); undefined without one. */
export function packageRoot(): URL | undefined {
  return findPackage()?.root;
}

/** Our parsed `package.json` (read once, by the root search); undefined without a package root. */
export function packageManifest(): Readonly<Record<string, unknown>> | undefined {
  return findPackage()?.manifest;
}

/** `relative` (e.g. `schemas/artifacts.schema.json`) under the package root; undefined without one. */
export function packageFile(relative: string): URL | undefined {
  const r = packageRoot();
  return r === undefined ? undefined : new URL(relative, r);
}

function readManifest(file: URL): Record<string, unknown> | undefined {
  try {
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof pkg === 'object' && pkg !== null ? (pkg as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
