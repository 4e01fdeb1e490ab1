import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { fetchAll, readAll } from '../../content/read.js';
import { writeFileAtomic } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { digestOf, isDigest, verifyContent } from '../../oci/digest.js';
import { errorFromResponse } from '../../registry/http-errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../oci/manifest.js';
import { splitRefTags } from '../args.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { addTargetCommandOptions, remoteFlagsOf, TEMPLATE_FORMATS, type CommonFlags } from '../options.js';
import { printResult } from '../output-format.js';
import { addPlatformOption, selectPlatform } from '../platform.js';
import { plainDescriptor } from '../render/format.js';
import { openTarget, type OpenedTarget } from '../targets.js';
import { addDeleteOptions, deleteResolved, type DeleteFlags } from './deletion.js';
import { registerManifestIndex } from './manifest-index.js';

/**
 * `GET /v2/<repo>/manifests/<ref>` with `Accept: <mediaType>` only (`manifest fetch --media-type`).
 * NOTE: the library's `Repository.fetchManifest` has no Accept override yet; the bytes are still
 * capped, parsed against the response Content-Type and digest-checked here.
 */
async function fetchWithAccept(
  target: OpenedTarget,
  ref: string,
  mediaType: string,
): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const client = target.client;
  if (client === undefined || target.registry === undefined || target.repository === undefined)
    throw new OrasError('ERR_ORAS_UNSUPPORTED', '--media-type needs a registry target');
  const res = await client.request({
    method: 'GET',
    url: new URL(`/v2/${target.repository}/manifests/${ref}`, client.baseUrl(target.registry)),
    headers: { accept: mediaType },
    scopes: [`repository:${target.repository}:pull`],
    signal: interrupt.signal,
  });
  if (res.status !== 200) throw await errorFromResponse(res, { operation: `fetch manifest ${target.display(ref)}` });
  const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, `manifest ${target.display(ref)}`);
  const contentType = res.headers['content-type']?.split(';')[0]?.trim() ?? mediaType;
  const parsed = parseManifest(bytes, contentType);
  const digest = digestOf(bytes);
  const expected = isDigest(ref) ? ref : res.headers['docker-content-digest'];
  if (expected !== undefined && expected !== '' && isDigest(expected))
    verifyContent(bytes, { digest: expected, size: bytes.length }, `manifest ${target.display(ref)}`);
  return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes };
}

/** Fetches a manifest's descriptor and verified bytes from any target (`accept`: require this media type). */
export async function fetchManifestFrom(
  target: OpenedTarget,
  accept?: string,
): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const ref = target.reference ?? 'latest';
  if (accept !== undefined && target.remote !== undefined) return fetchWithAccept(target, ref, accept);
  if (target.remote !== undefined) {
    const m = await target.remote.fetchManifest(ref, { signal: interrupt.signal });
    return { descriptor: m.descriptor, bytes: m.bytes };
  }
  const descriptor = await target.target.resolve(ref, { signal: interrupt.signal });
  return {
    descriptor,
    bytes: await fetchAll(target.target, descriptor, MAX_MANIFEST_BYTES, { signal: interrupt.signal }),
  };
}

interface FetchFlags extends CommonFlags {
  platform?: string;
  pretty?: boolean;
  descriptor?: boolean;
  mediaType?: string;
  output?: string;
}

/** `bytes` re-indented as JSON (2 spaces), or unchanged when they are not JSON. */
function prettyJson(bytes: Buffer): Buffer {
  try {
    return Buffer.from(`${JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)}\n`);
  } catch {
    return bytes;
  }
}

/**
 * Output of `fetch` and `fetch-config`: with `--format json` the document
 * `json()` on stdout (and the raw bytes to `-o FILE` when given); otherwise
 * the bytes (`--pretty`: re-indented) to `-o FILE` (atomically) or stdout.
 */
async function emitFetched(bytes: Buffer, opts: FetchFlags, json: () => unknown): Promise<void> {
  const file = opts.output !== undefined && opts.output !== '-' ? opts.output : undefined;
  if (cliState.format !== 'text') {
    if (file !== undefined) await writeFileAtomic(file, bytes);
    printResult(json(), () => undefined);
    return;
  }
  // oras 1.3 ignores --pretty when writing to a file.
  const shown = opts.pretty === true && file === undefined ? prettyJson(bytes) : bytes;
  if (file !== undefined) await writeFileAtomic(file, shown);
  else process.stdout.write(shown);
}

/** oras 1.3's flag checks of `manifest fetch` (cmd/oras/root/manifest/fetch.go PreRunE). */
function checkFetchFlags(cmd: Command, opts: FetchFlags): void {
  const formatGiven = cmd.getOptionValueSource('format') === 'cli';
  if (opts.output === '-' && cliState.format !== 'text')
    throw usageError(`\`--output -\` cannot be used with \`--format ${cliState.format}\` at the same time`);
  if (opts.output === '-' && opts.descriptor === true)
    throw usageError('`--descriptor` cannot be used with `--output -` at the same time');
  if (formatGiven && opts.pretty === true) throw usageError('--format and --pretty cannot be used at the same time');
  if (formatGiven && opts.descriptor === true)
    throw usageError('--format and --descriptor cannot be used at the same time');
}

function registerFetch(manifest: Command): void {
  const cmd = manifest
    .command('fetch')
    .alias('get')
    .alias('show')
    .description('fetch a manifest: raw bytes to stdout (or -o FILE)')
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('--pretty', 'pretty-print the JSON')
    .option(
      '--descriptor',
      'print the descriptor of the manifest (compact JSON) instead of its content; with -o FILE the content still goes to FILE',
    )
    .option('--media-type <type>', 'request (Accept) and require this manifest media type')
    .option('-o, --output <file>', 'write the manifest to FILE ("-" for stdout)');
  addPlatformOption(cmd);
  addTargetCommandOptions(cmd, {}, TEMPLATE_FORMATS);
  cmd.action(async (refArg: string, opts: FetchFlags & Record<string, unknown>) => {
    checkFetchFlags(cmd, opts);
    const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
    try {
      const { descriptor, bytes } = await selectPlatform(
        target.target,
        await fetchManifestFrom(target, opts.mediaType),
        opts.platform,
        refArg,
      );
      if (opts.mediaType !== undefined && opts.platform === undefined && descriptor.mediaType !== opts.mediaType) {
        throw new OrasError(
          'ERR_ORAS_MEDIA_TYPE_MISMATCH',
          `manifest ${target.display(target.reference)} is ${descriptor.mediaType}, not ${opts.mediaType}`,
          {
            hint: 'drop --media-type to accept any manifest type',
          },
        );
      }
      if (opts.descriptor === true) {
        // oras 1.3: the content still goes to -o FILE; the descriptor is printed as compact JSON (pretty with --pretty).
        if (opts.output !== undefined) await writeFileAtomic(opts.output, bytes);
        const desc = plainDescriptor(descriptor);
        process.stdout.write(opts.pretty === true ? `${JSON.stringify(desc, null, 2)}\n` : JSON.stringify(desc));
        return;
      }
      await emitFetched(bytes, opts, () => ({
        reference: target.display(descriptor.digest),
        ...plainDescriptor(descriptor),
        content: parseOrNull(bytes),
      }));
    } finally {
      await target.close();
    }
  });
}

/** The manifest as JSON, or null when it is not JSON (oras 1.3's `content`). */
function parseOrNull(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function registerFetchConfig(manifest: Command): void {
  const cmd = manifest
    .command('fetch-config')
    .alias('get-config')
    .description("fetch a manifest's config blob")
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('--pretty', 'pretty-print the JSON')
    .option('--descriptor', 'print the descriptor of the config instead of its content')
    .option('-o, --output <file>', 'write the config to FILE ("-" for stdout)');
  addPlatformOption(cmd);
  addTargetCommandOptions(cmd);
  cmd.action(async (refArg: string, opts: FetchFlags & Record<string, unknown>) => {
    const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
    try {
      const { descriptor, bytes } = await selectPlatform(
        target.target,
        await fetchManifestFrom(target),
        opts.platform,
        refArg,
      );
      const parsed = parseManifest(bytes, descriptor.mediaType);
      if (parsed.kind !== 'manifest')
        throw new OrasError('ERR_ORAS_UNSUPPORTED', `${refArg} is an index; it has no config`, {
          hint: 'fetch the config of one of its manifests by digest',
        });
      const config = parsed.manifest.config;
      if (opts.descriptor === true) {
        printJson(plainDescriptor(config));
        return;
      }
      const data = await fetchAll(target.target, config, MAX_MANIFEST_BYTES, { signal: interrupt.signal });
      await emitFetched(data, opts, () => {
        let content: unknown;
        try {
          content = JSON.parse(data.toString('utf8'));
        } catch {
          content = undefined;
        }
        return {
          reference: target.display(descriptor.digest),
          descriptor: plainDescriptor(config),
          ...(content !== undefined ? { content } : { contentBase64: data.toString('base64') }),
        };
      });
    } finally {
      await target.close();
    }
  });
}

function registerPushManifest(manifest: Command): void {
  const cmd = manifest
    .command('push')
    .description('push a manifest file (or "-" for stdin) to a registry or OCI layout')
    .argument('<reference>', 'registry/repo[:tag][,tag...] or registry/repo@digest')
    .argument('<file>', 'manifest JSON file, "-" for stdin')
    .option('--media-type <type>', 'media type of the manifest (default: its mediaType field)')
    .option('--descriptor', 'print the descriptor of the pushed manifest (compact JSON, as oras 1.3)')
    .option('--pretty', 'with --descriptor: pretty-print it');
  addTargetCommandOptions(cmd);
  cmd.action(
    async (
      refArg: string,
      file: string,
      opts: CommonFlags & { mediaType?: string; descriptor?: boolean; pretty?: boolean } & Record<string, unknown>,
    ) => {
      const bytes =
        file === '-' ? await readAll(process.stdin, MAX_MANIFEST_BYTES, 'manifest on stdin') : await readFile(file);
      if (bytes.length > MAX_MANIFEST_BYTES) throw usageError(`${file} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      let docType: unknown;
      try {
        docType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
      } catch {
        throw usageError(`${file} is not JSON`);
      }
      const mediaType = opts.mediaType ?? (typeof docType === 'string' ? docType : undefined);
      if (mediaType === undefined) throw usageError(`${file} has no mediaType field`, 'pass --media-type');
      parseManifest(bytes, mediaType);
      const descriptor: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.length };
      const { ref, extraTags } = splitRefTags(refArg);
      const target = await openTarget(ref, remoteFlagsOf(opts));
      try {
        if (target.digest !== undefined && target.digest !== descriptor.digest) {
          throw new OrasError(
            'ERR_ORAS_DIGEST_MISMATCH',
            `the manifest's digest is ${descriptor.digest}, not ${target.digest}`,
            { hint: 'push by tag, or give the matching digest' },
          );
        }
        const tags = [...(target.tag !== undefined ? [target.tag] : []), ...extraTags];
        const call = { signal: interrupt.signal };
        const first = tags[0];
        if (target.remote !== undefined && first !== undefined)
          await target.remote.pushReference(descriptor, bytes, first, call);
        else if (!(await target.target.exists(descriptor, call))) await target.target.push(descriptor, bytes, call);
        for (const t of target.remote !== undefined ? tags.slice(1) : tags)
          await target.target.tag(descriptor, t, call);
        if (opts.descriptor === true) {
          process.stdout.write(
            opts.pretty === true ? `${JSON.stringify(descriptor, null, 2)}\n` : JSON.stringify(descriptor),
          );
          return;
        }
        if (cliState.format === 'json') {
          printJson({ reference: target.display(descriptor.digest), ...descriptor, tags });
          return;
        }
        for (const t of tags.length > 0 ? tags : [descriptor.digest])
          outLine(`Pushed [${target.kind}] ${target.display(t)}`);
        outLine(`Digest: ${descriptor.digest}`);
      } finally {
        await target.close();
      }
    },
  );
}

function registerDeleteManifest(manifest: Command): void {
  const cmd = manifest
    .command('delete')
    .alias('rm')
    .description('delete a manifest (and its tags) from a registry or OCI layout')
    .argument('<reference>', 'registry/repo:tag|@digest');
  addDeleteOptions(cmd, 'manifest');
  addTargetCommandOptions(cmd);
  cmd.action(async (refArg: string, opts: DeleteFlags & Record<string, unknown>) => {
    const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: false, requireReference: true });
    try {
      await deleteResolved(target, opts, {
        what: 'manifest',
        raw: refArg,
        resolve: () => target.target.resolve(target.reference ?? 'latest', { signal: interrupt.signal }),
        question: (desc) =>
          `Are you sure you want to delete the manifest ${JSON.stringify(desc.digest)} and all tags associated with it?`,
        shown: target.display(target.reference),
      });
    } finally {
      await target.close();
    }
  });
}

/** `oras manifest fetch|fetch-config|push|delete|index`. */
export function registerManifest(program: Command): void {
  const manifest = program
    .command('manifest')
    .description('manifest operations: fetch, fetch-config, push, delete, index');
  registerFetch(manifest);
  registerFetchConfig(manifest);
  registerPushManifest(manifest);
  registerDeleteManifest(manifest);
  registerManifestIndex(manifest);
}
