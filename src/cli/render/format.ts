import type { Descriptor } from '../../oci/descriptor.js';
import { Annotation } from '../../oci/media-types.js';
import { escapeTerminal } from './escape.js';

/** `sha256:` plus the first 12 hex characters of a digest (for progress lines). */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : `${digest.slice(0, colon)}:${digest.slice(colon + 1, colon + 13)}`;
}

/** The display name of a descriptor: its title annotation, else its media type; terminal controls escaped ({@link escapeTerminal}). */
export function titleOf(desc: Descriptor): string {
  return escapeTerminal(desc.annotations?.[Annotation.Title] ?? desc.mediaType);
}

/** Human-readable byte count (`1.5 MB`), base 1000 like the Go CLI. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i] ?? 'PB'}`;
}

/** Pads `s` with spaces on the right to `width` characters. */
export function padRight(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/** A descriptor without its embedded `data`, for printing. */
export function plainDescriptor(d: Descriptor): Descriptor {
  const { data: _data, ...rest } = d;
  return rest;
}
