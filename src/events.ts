import type { Descriptor } from './oci/descriptor.js';

/**
 * Typed progress events. The library emits these and never prints; the CLI
 * chooses a renderer. `id` is the descriptor digest.
 */
export type TransferEvent =
  | { type: 'start'; descriptor: Descriptor }
  | { type: 'progress'; descriptor: Descriptor; bytes: number }
  | { type: 'skip'; descriptor: Descriptor; reason: 'exists' | 'mounted' | 'cached' }
  | { type: 'done'; descriptor: Descriptor }
  | { type: 'error'; descriptor: Descriptor; error: unknown };

/** A sink for {@link TransferEvent}s. Must not throw. */
export type TransferListener = (event: TransferEvent) => void;
