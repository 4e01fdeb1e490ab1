import type { Command } from 'commander';
import { OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { positiveInt } from '../args.js';
import { cliState, interrupt, outLine } from '../context.js';
import { addTemplateFormatOptions, printResult } from '../output-format.js';
import { addCommonOptions, addRemoteOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { padRight } from '../render/format.js';
import { openTarget, type CliTarget } from '../targets.js';
import { resolveForPlatform } from '../platform.js';

/** One node of the referrers graph: oras 1.3's JSON shape of `discover` (`referrers` nest). */
export interface ReferrerNode {
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  referrers: ReferrerNode[];
}

/** Most referrer manifests visited by one discover. */
const MAX_NODES = 10_000;

/**
 * Walks referrers breadth-first from `root` (referrers of referrers up to
 * `depth` levels, at most {@link MAX_NODES} nodes, cycles cut).
 */
export async function discoverTree(
  target: CliTarget,
  name: string,
  root: Descriptor,
  options: { artifactType?: string; depth: number },
): Promise<ReferrerNode> {
  const node = (d: Descriptor): ReferrerNode => ({
    reference: `${name}@${d.digest}`,
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.annotations !== undefined ? { annotations: d.annotations } : {}),
    ...(d.artifactType !== undefined && d.artifactType !== '' ? { artifactType: d.artifactType } : {}),
    referrers: [],
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
        if (++count > MAX_NODES)
          throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `more than ${MAX_NODES} referrers`, {
            hint: 'narrow with --artifact-type or --depth',
          });
        const child = node(r);
        item.node.referrers.push(child);
        next.push({ desc: r, node: child });
      }
    }
    frontier = next;
  }
  return top;
}

/** A referrer's annotations as oras 1.3 lists them under `[annotations]` (`key: value`, sorted by key here). */
function annotationLines(a: Record<string, string> | undefined): string[] {
  return Object.keys(a ?? {})
    .sort()
    .map((k) => `${k}: ${a?.[k] ?? ''}`);
}

/**
 * Renders the tree like oras 1.3: referrers grouped by artifact type
 * (`<unknown>` when a referrer has none), each with its `[annotations]`.
 * Registry strings are escaped by the caller.
 */
export function renderTree(root: ReferrerNode): string[] {
  const lines = [root.reference];
  const walk = (n: ReferrerNode, prefix: string): void => {
    const groups = new Map<string, ReferrerNode[]>();
    for (const m of n.referrers) {
      const key = m.artifactType ?? '<unknown>';
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
        const mp = `${gp}${last ? '    ' : '│   '}`;
        const notes = annotationLines(m.annotations);
        if (notes.length > 0) {
          const lastChild = m.referrers.length === 0;
          lines.push(`${mp}${lastChild ? '└── ' : '├── '}[annotations]`);
          const ap = `${mp}${lastChild ? '    ' : '│   '}`;
          notes.forEach((l, i) => lines.push(`${ap}${i === notes.length - 1 ? '└── ' : '├── '}${l}`));
        }
        walk(m, mp);
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
    for (const m of n.referrers) {
      rows.push([`${'  '.repeat(depth)}${m.digest}`, String(m.size), m.artifactType ?? m.mediaType]);
      walk(m, depth + 1);
    }
  };
  walk(root, 0);
  const header = ['Digest', 'Size', 'Artifact Type'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string =>
    r.map((c, i) => (i === r.length - 1 ? c : padRight(c, widths[i] ?? 0))).join('  ');
  return [`Discovered ${rows.length} artifact(s) referencing ${root.reference}`, fmt(header), ...rows.map(fmt)];
}

/** `oras discover REF`: lists referrers (recursively) as a tree, table or JSON. */
export function registerDiscover(program: Command): void {
  const cmd = program
    .command('discover')
    .description('list the artifacts that refer to a manifest (referrers), recursively')
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('--artifact-type <type>', 'only referrers of this artifact type (first level)')
    .option(
      '--platform <platform>',
      'discover referrers of the manifest of this platform: os[/arch][/variant][:os_version]',
    )
    .option('--depth <n>', 'levels of referrers-of-referrers to follow (default 16)', positiveInt('--depth'), 16);
  addRemoteOptions(cmd);
  addCommonOptions(cmd);
  addTemplateFormatOptions(cmd, ['tree', 'table', 'json', 'go-template'], { outputAlias: true });
  cmd.action(
    async (
      refArg: string,
      opts: CommonFlags & { artifactType?: string; depth: number; platform?: string } & Record<string, unknown>,
    ) => {
      // oras 1.3 shows only direct referrers in the (deprecated) table format.
      if (cliState.format === 'table') opts.depth = 1;
      cliState.errorContext.referrers = true;
      const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
      try {
        const ref = target.reference ?? 'latest';
        const root = await resolveForPlatform(target.target, ref, opts.platform, target.display(ref));
        const tree = await discoverTree(target.target, target.name, root, {
          depth: opts.depth,
          ...(opts.artifactType !== undefined ? { artifactType: opts.artifactType } : {}),
        });
        printResult(tree, () => {
          for (const l of cliState.format === 'table' ? renderTable(tree) : renderTree(tree)) outLine(l);
        });
      } finally {
        await target.close();
      }
    },
  );
}
