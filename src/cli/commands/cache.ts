import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultCacheDir } from '../../project/spec/config.js';
import { parseAge, parseByteSize } from '../../project/spec/cache-units.js';
import { cliConfig } from '../config.js';
import { cliState, errLine, interrupt, outLine, printJson, warn } from '../context.js';
import { usageError } from '../errors.js';
import { addCommonOptions, type CommonFlags } from '../options.js';
import { formatBytes, shortDigest } from '../render/format.js';

/** Flags of every `oras cache` subcommand. */
interface CacheFlags extends CommonFlags {
  project?: string;
}

interface PruneFlags extends CacheFlags {
  olderThan?: string;
  maxSize?: string;
  ci?: boolean;
  dryRun?: boolean;
}

function addCacheOptions(cmd: Command): Command {
  cmd
    .option(
      '-C, --project <dir>',
      'directory whose oras config (cache.dir) applies; for --ci, the project (default: current directory)',
    )
    .option('--format <format>', 'output format: text or json', 'text')
    .option('--json', 'shorthand for --format json');
  return addCommonOptions(cmd);
}

/** The cache root: `$ORAS_CACHE_DIR`, else the config's `cache.dir` (searched from `-C`), else the default. */
async function cacheRoot(opts: CacheFlags): Promise<{ root: string; projectDir: string }> {
  if (cliState.format !== 'text' && cliState.format !== 'json')
    throw usageError(`unknown --format ${JSON.stringify(cliState.format)}`, 'use --format text or --format json');
  const projectDir = resolve(opts.project ?? process.cwd());
  const config = await cliConfig(projectDir);
  return { root: defaultCacheDir(process.env, config.cache.dir), projectDir };
}

const waitNotice = (what: 'writer' | 'installs', path: string): void => {
  if (cliState.format !== 'json')
    errLine(
      what === 'installs'
        ? `Waiting for running installs to finish (${path})…`
        : `Waiting for another cache command (${path})…`,
    );
};

function registerReports(cache: Command): void {
  addCacheOptions(cache.command('dir').description('print the cache directory')).action(async (opts: CacheFlags) => {
    const { root } = await cacheRoot(opts);
    if (cliState.format === 'json') printJson({ dir: root });
    else outLine(root);
  });
  addCacheOptions(
    cache
      .command('ls')
      .alias('list')
      .description('list cached artifacts with size, last use and the projects using them'),
  ).action(async (opts: CacheFlags) => {
    const { root } = await cacheRoot(opts);
    const { listCache } = await import('../../project/apply/cache/list.js');
    const items = await listCache(root);
    if (cliState.format === 'json') {
      printJson({ dir: root, artifacts: items });
      return;
    }
    for (const a of items) {
      const ref = a.refs[0] ?? '(untagged)';
      const more = a.refs.length > 1 ? ` (+${a.refs.length - 1})` : '';
      const used =
        a.projects.length === 0
          ? 'unused'
          : `${a.projects.length} project(s)${cliState.verbose ? `: ${a.projects.join(', ')}` : ''}`;
      outLine(
        `${ref}${more}  ${shortDigest(a.digest)}  ${formatBytes(a.size)}  last used ${a.lastUsed.slice(0, 19).replace('T', ' ')}  ${used}${a.complete ? '' : '  partial'}`,
      );
    }
    outLine(`${items.length} artifact(s) in ${root}`);
  });
  addCacheOptions(
    cache.command('du').description('show the cache size: blobs, unpacked trees, what a prune would free'),
  ).action(async (opts: CacheFlags) => {
    const { root } = await cacheRoot(opts);
    const { cacheUsage } = await import('../../project/apply/cache/list.js');
    const u = await cacheUsage(root);
    if (cliState.format === 'json') {
      printJson(u);
      return;
    }
    outLine(
      `${formatBytes(u.totalBytes)} in ${u.root}: ${u.blobs} blob(s) ${formatBytes(u.blobBytes)}, ${u.trees} unpacked layer(s) ${formatBytes(u.treeBytes)}; ${formatBytes(u.reclaimableBytes)} reclaimable by \`oras cache prune\` (${u.projects} registered project(s))`,
    );
    if (u.sharedBytes > 0) outLine(`${formatBytes(u.sharedBytes)} of blobs are hard-linked into projects`);
  });
}

function registerMaintenance(cache: Command): void {
  addCacheOptions(
    cache
      .command('verify')
      .description('rehash every cached blob and unpacked file; remove what is corrupt')
      .option('--dry-run', 'report only; remove nothing'),
  ).action(async (opts: CacheFlags & { dryRun?: boolean }) => {
    const { root } = await cacheRoot(opts);
    const { verifyCache } = await import('../../project/apply/cache/verify.js');
    const r = await verifyCache({
      root,
      signal: interrupt.signal,
      onWait: waitNotice,
      ...(opts.dryRun === true ? { dryRun: true } : {}),
    });
    if (cliState.format === 'json') {
      printJson({ ...r, dryRun: opts.dryRun === true });
      return;
    }
    for (const d of [...r.corruptBlobs, ...r.corruptTrees.map((t) => `unpacked ${t}`)])
      outLine(`${opts.dryRun === true ? 'corrupt' : 'removed'} ${d}`);
    const bad = r.corruptBlobs.length + r.corruptTrees.length;
    outLine(
      `Verified ${r.blobsChecked} blob(s) and ${r.treesChecked} unpacked layer(s): ${bad === 0 ? 'OK' : `${bad} corrupt${opts.dryRun === true ? '' : ', removed (fetched again when needed)'}`}`,
    );
  });
  const prune = cache
    .command('prune')
    .description("remove what no registered project's artifacts.lock needs (waits for running installs)")
    .option('--older-than <duration>', 'only content last used longer ago than this, e.g. 30d, 12h')
    .option('--max-size <size>', 'only as much as needed, least recently used first, to fit this size, e.g. 2GiB')
    .option(
      '--ci',
      "keep only what this project's artifacts.lock needs, without unpacked trees (before saving a CI cache)",
    )
    .option('--dry-run', 'report only; remove nothing');
  addCacheOptions(prune).action(async (opts: PruneFlags) => {
    const { root, projectDir } = await cacheRoot(opts);
    const olderThan = opts.olderThan === undefined ? undefined : parseAge(opts.olderThan);
    if (typeof olderThan === 'object') throw usageError(`--older-than: ${olderThan.message}`);
    const maxSize = opts.maxSize === undefined ? undefined : parseByteSize(opts.maxSize);
    if (typeof maxSize === 'object') throw usageError(`--max-size: ${maxSize.message}`);
    const { pruneCache } = await import('../../project/apply/cache/gc.js');
    const r = await pruneCache({
      root,
      signal: interrupt.signal,
      onWait: waitNotice,
      ...(olderThan !== undefined ? { olderThanMs: olderThan } : {}),
      ...(maxSize !== undefined ? { maxSize } : {}),
      ...(opts.ci === true ? { ci: { projectDir } } : {}),
      ...(opts.dryRun === true ? { dryRun: true } : {}),
    });
    if (cliState.format === 'json') {
      printJson(r);
      return;
    }
    if (cliState.verbose)
      for (const p of r.projects) outLine(`${p.status === 'active' ? 'keeping for' : 'forgot'} ${p.dir}`);
    const verb = r.dryRun ? 'Would remove' : 'Removed';
    outLine(
      `${verb} ${r.blobs.length} blob(s) and ${r.trees.length} unpacked layer(s), ${formatBytes(r.freedBytes)}; cache ${r.dryRun ? 'would be' : 'is now'} ${formatBytes(r.keptBytes)} (${r.projects.filter((p) => p.status === 'active').length} project(s) protected)`,
    );
    if (r.overBudget && maxSize !== undefined)
      warn(
        `the cache is still over --max-size ${formatBytes(maxSize)}: the rest is needed by registered projects (see \`oras cache ls\`)`,
      );
  });
  addCacheOptions(
    cache.command('clean').description('remove everything from the cache (refused while an install uses it)'),
  ).action(async (opts: CacheFlags) => {
    const { root } = await cacheRoot(opts);
    const { cleanCache } = await import('../../project/apply/cache/clean.js');
    const r = await cleanCache(root);
    if (cliState.format === 'json') printJson({ dir: root, ...r });
    else
      outLine(`Removed ${r.blobs} blob(s) and ${r.trees} unpacked layer(s), ${formatBytes(r.freedBytes)} from ${root}`);
  });
}

/** `oras cache dir | ls | du | verify | prune | clean`. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('inspect and manage the shared artifact cache');
  registerReports(cache);
  registerMaintenance(cache);
}
