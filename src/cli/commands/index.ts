import type { Command } from 'commander';

/** Registers one command module's commands on the root program. */
type Registrar = (program: Command) => void;

/** A command module: the top-level command names and aliases it registers, and how to load it. */
interface CommandModule {
  readonly names: readonly string[];
  readonly load: () => Promise<Registrar>;
}

/**
 * Every command module in help order. Each is loaded with a dynamic `import()`
 * so that a run of one command never compiles the others (or their library
 * dependencies: undici, ajv, cosmiconfig, tar-stream, …).
 */
const MODULES: readonly CommandModule[] = [
  { names: ['push'], load: async () => (await import('./push.js')).registerPush },
  { names: ['pull'], load: async () => (await import('./pull.js')).registerPull },
  { names: ['login', 'logout'], load: async () => (await import('./login.js')).registerLogin },
  { names: ['attach'], load: async () => (await import('./attach.js')).registerAttach },
  { names: ['discover'], load: async () => (await import('./discover.js')).registerDiscover },
  { names: ['cp', 'copy'], load: async () => (await import('./cp.js')).registerCp },
  { names: ['tag'], load: async () => (await import('./tag.js')).registerTag },
  { names: ['resolve'], load: async () => (await import('./resolve.js')).registerResolve },
  { names: ['manifest'], load: async () => (await import('./manifest.js')).registerManifest },
  { names: ['blob'], load: async () => (await import('./blob.js')).registerBlob },
  { names: ['repo', 'repository'], load: async () => (await import('./repo.js')).registerRepo },
  { names: ['backup', 'restore'], load: async () => (await import('./backup.js')).registerBackup },
  { names: ['install', 'i', 'update', 'plan'], load: async () => (await import('./install.js')).registerInstall },
  { names: ['publish', 'outdated'], load: async () => (await import('./publish.js')).registerPublish },
  { names: ['lock'], load: async () => (await import('./lock.js')).registerLock },
  { names: ['verify'], load: async () => (await import('./verify.js')).registerVerify },
  { names: ['fetch'], load: async () => (await import('./fetch.js')).registerFetch },
  { names: ['cache'], load: async () => (await import('./cache.js')).registerCache },
  { names: ['trust'], load: async () => (await import('./trust.js')).registerTrust },
  { names: ['version'], load: async () => (await import('./version.js')).registerVersion },
  { names: ['completion'], load: async () => (await import('./completion.js')).registerCompletion },
];

/** The top-level command names and aliases the modules declare (kept in sync with commander by a test). */
export function declaredCommandNames(): string[] {
  return MODULES.flatMap((m) => m.names);
}

/**
 * Registers the `oras` subcommands on `program`. When `invoked` (the first
 * command-line word) names a known command or alias, only the module that
 * defines it is loaded: parsing, options and behaviour are those of the full
 * program. Otherwise (no command, `help`, `--help`, a flag, a typo that needs
 * "did you mean …?") every module is loaded and registered in help order.
 */
export async function registerCommands(program: Command, invoked?: string): Promise<void> {
  const match = invoked === undefined ? undefined : MODULES.find((m) => m.names.includes(invoked));
  const chosen = match !== undefined ? [match] : MODULES;
  const registrars = await Promise.all(chosen.map((m) => m.load()));
  for (const register of registrars) register(program);
}
