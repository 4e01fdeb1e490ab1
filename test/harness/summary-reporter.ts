import type { Reporter, TestModule } from 'vitest/node';

/** Counts of one module: a module whose setup failed (beforeAll, import) counts its tests as failed. */
export function countModule(mod: TestModule): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const setupFailed = mod.state() === 'failed';
  for (const test of mod.children.allTests()) {
    const state = test.result().state;
    if (state === 'passed') passed++;
    else if (state === 'failed') failed++;
    else if (setupFailed) failed++;
    else skipped++;
  }
  // A module that failed with no test failing (a failed beforeAll/afterAll, an import error,
  // no test collected) is a failure, never "skipped".
  if (setupFailed && failed === 0) failed = 1;
  return { passed, failed, skipped };
}

/**
 * Prints one plain closing line, `Tests: N passed, N failed, N skipped`, after
 * vitest's own summary, so CI logs have a runner-neutral count. A test file whose
 * setup failed counts as failed.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const mod of testModules) {
      const c = countModule(mod);
      passed += c.passed;
      failed += c.failed;
      skipped += c.skipped;
    }
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
