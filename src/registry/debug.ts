/**
 * Redacted one-line request/response logs for the `onDebug` option. Bodies are
 * never logged.
 */
import { redactHeaders, redactUrl, scrubServerText } from './redact.js';

/** A sink for debug lines (e.g. `console.error`). Must not throw. */
export type DebugSink = (line: string) => void;

function fmtHeaders(headers: Record<string, string | string[] | number | undefined>): string {
  const r = redactHeaders(headers);
  return Object.entries(r)
    .map(([k, v]) => `${k}: ${v.length > 300 ? `${v.slice(0, 300)}...` : v}`)
    .join('; ');
}

/**
 * The line for an outgoing request: `> GET <redacted url> {headers}`. Secret
 * headers are redacted by name, and every value by content: any remembered
 * secret in any encoding (`scrubServerText`) is replaced, whatever the header.
 */
export function formatRequestLine(
  method: string,
  url: URL,
  headers: Record<string, string | string[] | number | undefined>,
): string {
  return scrubServerText(`> ${method} ${redactUrl(url)} {${fmtHeaders(headers)}}`);
}

/** The line for a response: `< 200 GET <redacted url> {headers}`, redacted like {@link formatRequestLine} (a registry may echo a credential in any header). */
export function formatResponseLine(
  status: number,
  method: string,
  url: URL,
  headers: Record<string, string | string[] | number | undefined>,
): string {
  return scrubServerText(`< ${status} ${method} ${redactUrl(url)} {${fmtHeaders(headers)}}`);
}

/** Calls `sink` with `line`, swallowing anything it throws. */
export function emitDebug(sink: DebugSink | undefined, line: string | (() => string)): void {
  if (sink === undefined) return;
  try {
    sink(scrubServerText(typeof line === 'function' ? line() : line));
  } catch {
    // a debug sink must never break a request
  }
}
