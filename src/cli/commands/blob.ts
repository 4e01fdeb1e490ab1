import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { digestFile } from '../../oci/hash-file.js';
import { streamToFileAtomic } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { parseDigest } from '../../oci/digest.js';
import { MediaType } from '../../oci/media-types.js';
import { errorFromResponse } from '../../registry/http-errors.js';
import { positiveInt } from '../args.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { addTargetCommandOptions, remoteFlagsOf, ttyEnabled, type CommonFlags } from '../options.js';
import { progressFor, PULL_VERBS, PUSH_VERBS } from '../render/progress.js';
import { openTarget, type OpenedTarget } from '../targets.js';
import { addDeleteOptions, deleteResolved, type DeleteFlags } from './deletion.js';

function notFound(what: string): OrasError {
  return new OrasError('ERR_ORAS_NOT_FOUND', `${what} not found`, { hint: 'check the repository and digest' });
}

/**
 * The descriptor (size) of a blob by digest: `HEAD /v2/<repo>/blobs/<digest>`
 * on a registry, the blob file's size in a layout.
 * NOTE: the library has no blob resolver yet; this is the only raw request the CLI sends.
 */
export async function resolveBlob(
  target: OpenedTarget,
  digest: string,
  mediaType: string = MediaType.OctetStream,
): Promise<Descriptor> {
  parseDigest(digest);
  if (target.layout !== undefined) {
    try {
      const st = await stat(target.layout.blobPath(digest));
      return { mediaType, digest, size: st.size };
    } catch {
      throw notFound(`blob ${digest} in ${target.name}`);
    }
  }
  const client = target.client;
  if (client === undefined || target.registry === undefined || target.repository === undefined)
    throw new OrasError('ERR_ORAS_UNSUPPORTED', 'cannot resolve blobs on this target');
  const res = await client.request({
    method: 'HEAD',
    url: new URL(`/v2/${target.repository}/blobs/${digest}`, client.baseUrl(target.registry)),
    scopes: [`repository:${target.repository}:pull`],
    signal: interrupt.signal,
  });
  res.body.resume();
  if (res.status === 404) throw notFound(`blob ${digest} in ${target.name}`);
  if (res.status !== 200) throw await errorFromResponse(res, { operation: `resolve blob ${digest}` });
  const size = Number(res.headers['content-length']);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new OrasError('ERR_ORAS_HTTP', `the registry sent no usable Content-Length for blob ${digest}`);
  return { mediaType, digest, size };
}

function blobRef(target: OpenedTarget): string {
  if (target.digest === undefined)
    throw usageError(
      `${target.display(target.reference)} has no digest`,
      'use registry/repo@sha256:… for blob commands',
    );
  return target.digest;
}

function registerBlobFetch(blob: Command): void {
  const cmd = blob
    .command('fetch')
    .description('fetch a blob by digest to a file or stdout')
    .argument('<reference>', 'registry/repo@sha256:…')
    .option('-o, --output <file>', 'write the blob to FILE ("-" for stdout)')
    .option('--descriptor', 'print the descriptor of the blob');
  addTargetCommandOptions(cmd);
  cmd.action(
    async (refArg: string, opts: CommonFlags & { output?: string; descriptor?: boolean } & Record<string, unknown>) => {
      const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
      try {
        const desc = await resolveBlob(target, blobRef(target));
        if (opts.output === undefined && opts.descriptor !== true)
          throw usageError('say where to write the blob', 'pass -o FILE, or --output - for stdout');
        if (opts.output === '-') {
          await pipeline(await target.target.fetch(desc, { signal: interrupt.signal }), process.stdout, { end: false });
        } else if (opts.output !== undefined) {
          const progress = progressFor(cliState.format, ttyEnabled(opts), PULL_VERBS);
          try {
            progress.listener({ type: 'start', descriptor: desc });
            await streamToFileAtomic(opts.output, await target.target.fetch(desc, { signal: interrupt.signal }), {
              expected: desc,
              onProgress: (bytes) => progress.listener({ type: 'progress', descriptor: desc, bytes }),
              signal: interrupt.signal,
            });
            progress.listener({ type: 'done', descriptor: desc });
          } finally {
            progress.close();
          }
        }
        if (opts.descriptor === true || (cliState.format === 'json' && opts.output !== '-')) printJson(desc);
      } finally {
        await target.close();
      }
    },
  );
}

function registerBlobPush(blob: Command): void {
  const cmd = blob
    .command('push')
    .description('push a file (or "-" for stdin) as a blob')
    .argument('<reference>', 'registry/repo[@digest]')
    .argument('<file>', 'file to push, "-" for stdin')
    .option('--media-type <type>', 'media type for the printed descriptor', MediaType.OctetStream)
    .option('--size <bytes>', 'the blob size (checked); required when reading stdin, as in oras 1.3', (v: string) =>
      v.trim() === '0' ? 0 : positiveInt('--size')(v),
    )
    .option('--descriptor', 'print the descriptor of the pushed blob');
  addTargetCommandOptions(cmd);
  cmd.action(
    async (
      refArg: string,
      file: string,
      opts: CommonFlags & { mediaType: string; size?: number; descriptor?: boolean } & Record<string, unknown>,
    ) => {
      if (file === '-' && opts.size === undefined)
        throw usageError(
          '`--size` must be provided if the blob is read from stdin',
          'e.g. oras blob push --size 12 REPO@DIGEST -',
        );
      let spool: string | undefined;
      try {
        let path = file;
        if (file === '-') {
          spool = await mkdtemp(join(tmpdir(), 'oras-blob-'));
          path = join(spool, 'stdin');
          await streamToFileAtomic(path, process.stdin, { signal: interrupt.signal });
        }
        const { digest, size } = await digestFile(path, { signal: interrupt.signal });
        if (opts.size !== undefined && opts.size !== size)
          throw new OrasError('ERR_ORAS_SIZE_MISMATCH', `${file} has ${size} bytes, not the --size ${opts.size}`);
        const desc: Descriptor = { mediaType: opts.mediaType, digest, size };
        const target = await openTarget(refArg, remoteFlagsOf(opts));
        try {
          if (target.digest !== undefined && target.digest !== digest)
            throw new OrasError('ERR_ORAS_DIGEST_MISMATCH', `${file} has digest ${digest}, not ${target.digest}`);
          const progress = progressFor(cliState.format, ttyEnabled(opts), PUSH_VERBS);
          let existed = false;
          try {
            if (await target.target.exists(desc, { signal: interrupt.signal })) {
              existed = true;
              progress.listener({ type: 'skip', descriptor: desc, reason: 'exists' });
            } else {
              progress.listener({ type: 'start', descriptor: desc });
              await target.target.push(desc, createReadStream(path), {
                signal: interrupt.signal,
                onProgress: (bytes) => progress.listener({ type: 'progress', descriptor: desc, bytes }),
              });
              progress.listener({ type: 'done', descriptor: desc });
            }
          } finally {
            progress.close();
          }
          if (opts.descriptor === true) {
            printJson(desc);
            return;
          }
          if (cliState.format === 'json') {
            printJson({ reference: `${target.name}@${digest}`, ...desc, existed });
            return;
          }
          outLine(`${existed ? 'Exists' : 'Pushed'}: ${target.name}@${digest}`);
          outLine(`Digest: ${digest}`);
        } finally {
          await target.close();
        }
      } finally {
        if (spool !== undefined) await rm(spool, { recursive: true, force: true });
      }
    },
  );
}

function registerBlobDelete(blob: Command): void {
  const cmd = blob
    .command('delete')
    .alias('rm')
    .description('delete a blob by digest')
    .argument('<reference>', 'registry/repo@sha256:…');
  addDeleteOptions(cmd, 'blob');
  addTargetCommandOptions(cmd);
  cmd.action(async (refArg: string, opts: DeleteFlags & Record<string, unknown>) => {
    const target = await openTarget(refArg, remoteFlagsOf(opts));
    try {
      await deleteResolved(target, opts, {
        what: 'blob',
        raw: refArg,
        resolve: () => resolveBlob(target, blobRef(target)),
        question: (desc) => `Are you sure you want to delete the blob ${JSON.stringify(desc.digest)}?`,
        shown: target.display(blobRef(target)),
      });
    } finally {
      await target.close();
    }
  });
}

/** `oras blob fetch|push|delete`. */
export function registerBlob(program: Command): void {
  const blob = program.command('blob').description('blob operations: fetch, push, delete');
  registerBlobFetch(blob);
  registerBlobPush(blob);
  registerBlobDelete(blob);
}
