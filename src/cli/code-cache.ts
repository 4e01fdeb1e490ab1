/**
 * Running the bundled CLI program with V8's code cache.
 *
 * Decision: the program (`src/cli/program.ts` and everything it imports, ~1.6 MB) is bundled as a
 * CommonJS script, `dist/cli/oras-cli.cjs`, and compiled here with `vm.Script` and the code cache
 * the build made for it (`oras-cli.cjs.cache`, scripts/make-code-cache.mjs). V8 then deserializes
 * the functions it compiled during the build's run instead of parsing and compiling them again:
 * compiling the bundle was 34 ms of every command's start (profile of `oras version`). Node 20
 * has no code cache for ES modules (`module.enableCompileCache` is Node 22), hence the script.
 *
 * Safety: the cache file starts with the SHA-256 of the bundle it was made from, and is used only
 * for those exact bytes (V8's own check compares the source's length, not its content). V8 also
 * refuses a cache from another V8 version or under other flags. A missing, stale or refused cache
 * costs only the compile it would have saved; nothing writes a cache at run time.
 *
 * Constraint: code in the program must not call `import()` at run time. A script's dynamic import
 * needs `importModuleDynamically`, which Node 20 offers only as an experimental feature (a warning
 * on stderr) or behind `--experimental-vm-modules`, and which functions from a code cache made in
 * another process lose. Modules of ours are bundled (esbuild turns their `import()` into a
 * function call); built-ins and lazily loaded packages go through `createRequire`. The bundle
 * test checks that only unreachable `import()`s are left (cosmiconfig's loaders for code configs,
 * which oras refuses).
 */
import { createHash } from 'node:crypto';
import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';

/** Bytes before V8's data in a cache file: the SHA-256 of the bundle it was made from. */
const HASH_BYTES = 32;

/** The CommonJS wrapper's parameters, as Node's own loader passes them. */
type ModuleWrapper = (
  exports: unknown,
  require: NodeJS.Require,
  module: { exports: unknown },
  filename: string,
  dirname: string,
) => void;

/** A compiled program bundle. */
export interface CompiledProgram {
  /** The compiled script (its `createCachedData()` is what the build stores). */
  script: vm.Script;
  /** SHA-256 of the bundle's bytes. */
  sourceHash: Buffer;
  /** True when V8 used the given cache (it matched the bundle and V8 accepted it). */
  cacheUsed: boolean;
  /** Runs the program (its top level; the command continues asynchronously). */
  run(): void;
}

/** The cache file of `bundle`: beside it, `<bundle>.cache`. */
export function cacheFileOf(bundle: string): string {
  return `${bundle}.cache`;
}

/** The cache file of `bundle`, or undefined when there is none (or it cannot be read). */
export function readCodeCache(bundle: string): Buffer | undefined {
  try {
    return readFileSync(cacheFileOf(bundle));
  } catch {
    return undefined;
  }
}

/** The bytes of a cache file for `program`: its bundle's hash, then V8's data (take it after a run). */
export function codeCacheOf(program: CompiledProgram): Buffer {
  return Buffer.concat([program.sourceHash, program.script.createCachedData()]);
}

/**
 * Compiles the CommonJS bundle at `bundle` (an absolute path) with `cache` when it was made from
 * these exact bytes. Throws what reading the bundle throws (e.g. `ENOENT`).
 */
export function compileProgram(bundle: string, cache: Buffer | undefined): CompiledProgram {
  const bytes = readFileSync(bundle);
  const sourceHash = createHash('sha256').update(bytes).digest();
  const matches = cache !== undefined && cache.length > HASH_BYTES && sourceHash.equals(cache.subarray(0, HASH_BYTES));
  const cachedData = matches ? cache.subarray(HASH_BYTES) : undefined;
  // The bundle is written ASCII-only (scripts/bundle-cli.mjs): decoded as Latin-1, V8 keeps it as a
  // one-byte string. Any other bundle is decoded as UTF-8.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8').replace(/^#!.*/, '');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData !== undefined ? { cachedData } : {}),
  });
  return {
    script,
    sourceHash,
    cacheUsed: cachedData !== undefined && script.cachedDataRejected !== true,
    run() {
      const wrapper = script.runInThisContext() as ModuleWrapper;
      const module = { exports: {} };
      wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
    },
  };
}
