/**
 * Pushing one blob of an artifact with transfer events: hashed first
 * ({@link pushOne}) or uploaded while it is hashed ({@link pushWhileHashing}).
 */
import { openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { FileUploadSource } from '../content/file-upload-source.js';
import { ioError } from '../content/fs-atomic.js';
import type { Exists, Pusher, UnhashedPusher } from '../content/store.js';
import { OrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import type { Descriptor } from '../oci/descriptor.js';
import { digestFile } from '../oci/hash-file.js';
import { openVerifiedSync, type FileIdentity } from '../oci/file-identity.js';

/** A blob to push: its descriptor and a way to (re)open its bytes. */
export interface BlobSource {
  descriptor: Descriptor;
  open: () => Readable | Uint8Array;
}

/** Read chunk size of files hashed or uploaded (1 MiB: far fewer read/write calls than the 64 KiB default, memory still bounded). */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;

/**
 * Opens a file of `size` bytes for upload with reads of at most {@link UPLOAD_CHUNK_BYTES}, but no
 * bigger than the file: read as a stream, a buffer is allocated per read, and a 1 MiB buffer for
 * each of 1000 4 KiB files costs more CPU (allocation, page faults, GC) than the uploads
 * themselves. The streamed upload of a big file pulls it into two reused buffers instead (see
 * {@link FileUploadSource}). Opens synchronously: a file that cannot be opened, or (with `expect`)
 * is not the inode that was checked, throws (`ERR_ORAS_IO`; `ERR_ORAS_PATH_TRAVERSAL` for the latter).
 */
export function openForUpload(file: string, size: number, expect?: FileIdentity): Readable {
  // With `expect`, the bytes come from the checked inode only (see `oci/file-identity.ts`).
  let fd: number;
  try {
    fd = expect === undefined ? openSync(file, 'r') : openVerifiedSync(file, expect);
  } catch (err) {
    throw ioError(err, 'opening for upload', file);
  }
  return new FileUploadSource(fd, Math.min(UPLOAD_CHUNK_BYTES, Math.max(size, 1)));
}

/** The digest of a big file hashed while it uploads: the one place to swap in an off-thread hash. */
function digestWhileUploading(
  file: string,
  signal: AbortSignal,
  expect: FileIdentity | undefined,
): Promise<{ digest: string; size: number }> {
  return digestFile(file, { signal, ...(expect ? { expect } : {}) });
}

/** Pushes `blob` unless `store.exists` finds it: `skip`, or `start`, `progress`…, `done` / `error` events. */
export async function pushOne(
  store: Pusher & Exists,
  blob: BlobSource,
  emit: TransferListener,
  signal: AbortSignal | undefined,
): Promise<void> {
  const call = signal ? { signal } : {};
  const descriptor = blob.descriptor;
  if (await store.exists(descriptor, call)) {
    emit({ type: 'skip', descriptor, reason: 'exists' });
    return;
  }
  emit({ type: 'start', descriptor });
  try {
    await store.push(descriptor, blob.open(), {
      ...call,
      onProgress: (bytes) => emit({ type: 'progress', descriptor, bytes }),
    });
  } catch (error) {
    emit({ type: 'error', descriptor, error });
    throw error;
  }
  emit({ type: 'done', descriptor });
}

/**
 * Uploads a big file while it is hashed ({@link UnhashedPusher}); returns its descriptor
 * once pushed or found present. Events as {@link pushOne}: `skip` (exists) or `start`,
 * `progress`… (from the moment the digest is known), `done`; `error` once the digest is known.
 */
export async function pushWhileHashing(
  store: UnhashedPusher,
  file: string,
  size: number,
  describe: (digest: string) => Descriptor,
  emit: TransferListener,
  signal: AbortSignal,
  expect?: FileIdentity,
): Promise<Descriptor> {
  let descriptor: Descriptor | undefined;
  const digest = digestWhileUploading(file, signal, expect).then(({ digest: d, size: hashed }) => {
    if (hashed !== size) {
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `${file} changed while it was being pushed: it is ${hashed} bytes now, ${size} before`,
        {
          hint: 'make sure nothing writes to the file during the push, then retry (nothing was committed)',
        },
      );
    }
    descriptor = describe(d);
    return d;
  });
  let outcome: 'pushed' | 'exists';
  try {
    outcome = await store.pushUnhashed(() => openForUpload(file, size, expect), size, digest, {
      signal,
      what: file,
      onStart: () => {
        if (descriptor) emit({ type: 'start', descriptor });
      },
      onProgress: (bytes) => {
        if (descriptor) emit({ type: 'progress', descriptor, bytes });
      },
    });
  } catch (error) {
    if (descriptor) emit({ type: 'error', descriptor, error });
    throw error;
  }
  if (!descriptor)
    throw new OrasError('ERR_ORAS_IO', `${file}: no digest after the upload`, {
      hint: 'this is a bug; please report it',
    });
  emit(outcome === 'exists' ? { type: 'skip', descriptor, reason: 'exists' } : { type: 'done', descriptor });
  return descriptor;
}
