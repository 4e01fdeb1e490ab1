/**
 * Files of the installed package that are not code: `package.json`,
 * `schemas/*.schema.json`, `dist/build-info.json`. They are found from the
 * package root, not from a path relative to the calling module, because the
 * same module runs at different depths: in the module tree
 * (`dist/project/spec/validate.js`, or `src/…` under vitest) and inside the
 * single-file CLI bundle (`dist/cli/main.js`, written by
 * `scripts/bundle-cli.mjs`).
 */
import { readFileSync } from 'node:fs';

/** The `name` in our package.json: the directory holding it is the package root. */
const PACKAGE_NAME = 'oras-ts';

/** Found root; `null` once a search found none (not searched again). */
let root: URL | null | undefined;

/**
 * The package root: the nearest directory above this module (or the bundle
 * it was built into) whose `package.json` is named `oras-ts`. Undefined when
 * there is none (code copied out of its package). Searched once per process;
 * the walk ends at the file-system root.
 */
export function packageRoot(): URL | undefined {
  if (root !== undefined) return root ?? undefined;
  root = null;
  let dir = new URL('./', import.meta.url);
  for (;;) {
    if (namesUs(new URL('package.json', dir))) {
      root = dir;
      break;
    }
    const up = new URL('../', dir);
    if (up.href === dir.href) break;
    dir = up;
  }
  return root ?? undefined;
}

/** `relative` (e.g. `schemas/artifacts.schema.json`) under the package root; undefined without one. */
export function packageFile(relative: string): URL | undefined {
  const r = packageRoot();
  return r === undefined ? undefined : new URL(relative, r);
}

function namesUs(file: URL): boolean {
  try {
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown } | null;
    return pkg?.name === PACKAGE_NAME;
  } catch {
    return false;
  }
}
