import { Option, type Command } from 'commander';
import { OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { positiveInt } from '../args.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { addCommonOptions, addRemoteOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { padRight } from '../render/format.js';
import { openTarget, type CliTarget } from '../targets.js';

/** One node of the referrers graph (the JSON shape of `discover`). */
export interface ReferrerNode {
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  manifests: ReferrerNode[];
}

/** Most referrer manifests visited by one discover. */
const MAX_NODES = 10_000;

/**
 * Walks referrers breadth-first from `root` (referrers of referrers up to
 * `depth` levels, at most {@link MAX_NODES} nodes, cycles cut).
 */
export async function discoverTree(target: CliTarget, name: string, root: Descriptor, options: { artifactType?: string; depth: number }): Promise<ReferrerNode> {
  const node = (d: Descriptor): ReferrerNode => ({
    reference: `${name}@${d.digest}`,
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
    ...(d.annotations !== undefined ? { annotations: d.annotations } : {}),
    manifests: [],
  });
  const top = node(root);
  const seen = new Set<string>([root.digest]);
  let frontier: { desc: Descriptor; node: ReferrerNode }[] = [{ desc: root, node: top }];
  let count = 0;
  for (let level = 0; level < options.depth && frontier.length > 0; level++) {
    const next: typeof frontier = [];
    for (const item of frontier) {
      // The artifact-type filter applies to the first level, like oras; deeper levels show everything.
      const filter = level === 0 && options.artifactType !== undefined ? { artifactType: options.artifactType } : {};
      const refs = await target.referrers(item.desc, { signal: interrupt.signal, ...filter });
      for (const r of refs) {
        if (seen.has(r.digest)) continue;
        seen.add(r.digest);
        if (++count > MAX_NODES) throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `more than ${MAX_NODES} referrers`, { hint: 'narrow with --artifact-type or --depth' });
        const child = node(r);
        item.node.manifests.push(child);
        next.push({ desc: r, node: child });
      }
    }
    frontier = next;
  }
  return top;
}

/** Renders the tree like oras: referrers grouped by artifact type. */
export function renderTree(root: ReferrerNode): string[] {
  const lines = [root.reference];
  const walk = (n: ReferrerNode, prefix: string): void => {
    const groups = new Map<string, ReferrerNode[]>();
    for (const m of n.manifests) {
      const key = m.artifactType ?? m.mediaType;
      groups.set(key, [...(groups.get(key) ?? []), m]);
    }
    const entries = [...groups.entries()];
    entries.forEach(([type, members], gi) => {
      const lastGroup = gi === entries.length - 1;
      lines.push(`${prefix}${lastGroup ? '└── ' : '├── '}${type}`);
      const gp = `${prefix}${lastGroup ? '    ' : '│   '}`;
      members.forEach((m, mi) => {
        const last = mi === members.length - 1;
        lines.push(`${gp}${last ? '└── ' : '├── '}${m.digest}`);
        walk(m, `${gp}${last ? '    ' : '│   '}`);
      });
    });
  };
  walk(root, '');
  return lines;
}

/** Renders a table of every referrer (depth-first) with its level. */
export function renderTable(root: ReferrerNode): string[] {
  const rows: string[][] = [];
  const walk = (n: ReferrerNode, depth: number): void => {
    for (const m of n.manifests) {
      rows.push([`${'  '.repeat(depth)}${m.digest}`, String(m.size), m.artifactType ?? m.mediaType]);
      walk(m, depth + 1);
    }
  };
  walk(root, 0);
  const header = ['Digest', 'Size', 'Artifact Type'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : padRight(c, widths[i] ?? 0))).join('  ');
  return [`Discovered ${rows.length} artifact(s) referencing ${root.reference}`, fmt(header), ...rows.map(fmt)];
}

/** `oras discover REF`: lists referrers (recursively) as a tree, table or JSON. */
export function registerDiscover(program: Command): void {
  const cmd = program
    .command('discover')
    .description('list the artifacts that refer to a manifest (referrers), recursively')
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('--artifact-type <type>', 'only referrers of this artifact type (first level)')
    .option('--depth <n>', 'levels of referrers-of-referrers to follow (default 16)', positiveInt('--depth'), 16)
    .addOption(new Option('--format <format>', 'output format').choices(['tree', 'table', 'json']).default('tree'))
    .option('--output <format>', 'deprecated alias of --format (oras 1.0)');
  addRemoteOptions(cmd);
  addCommonOptions(cmd);
  cmd.action(async (refArg: string, opts: CommonFlags & { artifactType?: string; depth: number; output?: string } & Record<string, unknown>) => {
    if (opts.output !== undefined) cliState.format = opts.output;
    cliState.errorContext.referrers = true;
    const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
    try {
      const root = await target.target.resolve(target.reference ?? 'latest', { signal: interrupt.signal });
      const tree = await discoverTree(target.target, target.name, root, { depth: opts.depth, ...(opts.artifactType !== undefined ? { artifactType: opts.artifactType } : {}) });
      if (cliState.format === 'json') printJson(tree);
      else for (const l of cliState.format === 'table' ? renderTable(tree) : renderTree(tree)) outLine(l);
    } finally {
      await target.close();
    }
  });
}
