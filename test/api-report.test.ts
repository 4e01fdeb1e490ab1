/**
 * The public API is deliberate: `docs/api-report.txt` (written by `npm run api:report`) lists every
 * export of every entry point with its signature. This test fails when the surface changes without
 * the report being regenerated and reviewed, or when a public signature uses a type no entry exports.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { buildReport, REPORT_PATH } from '../scripts/api-report.mjs';

describe('public API surface', () => {
  const report = (buildReport as () => { text: string; forgotten: string[] })();

  it('matches docs/api-report.txt (run `npm run api:report` and review the diff when it changes)', async () => {
    expect(report.text).toBe(await readFile(REPORT_PATH as string, 'utf8'));
  });

  it('exports every type that a public signature uses', () => {
    expect(report.forgotten).toEqual([]);
  });

  it('keeps plumbing internal', () => {
    for (const name of [
      'TEMP_MARKER',
      'fsyncDir',
      'tempPathFor',
      'normalizeHeaders',
      'RepositoryContext',
      'acquireLock',
      'discardBody',
    ]) {
      expect(report.text).not.toMatch(new RegExp(`^\\w+ ${name}\\b`, 'm'));
    }
  });
});
