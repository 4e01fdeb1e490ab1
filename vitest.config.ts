import { defineConfig } from 'vitest/config';

/**
 * Test files that need the harness: real docker-registry instances (test/harness/global-setup.ts),
 * skopeo, or the built CLI in dist/. Everything else is a unit test and runs without any of them
 * (`npm run test:unit`). A unit test that calls `registries()` fails with a message naming this list.
 */
export const INTEGRATION = [
  'test/harness.test.ts',
  'test/cli/!(units).test.ts',
  'test/examples/**/*.test.ts',
  'test/registry/!(undici-lite).test.ts',
  'test/artifact/many-files-push.test.ts',
  'test/artifact/push-overlap.test.ts',
  'test/artifact/registry.test.ts',
  'test/copy/registry.test.ts',
  'test/copy/skopeo-layout.test.ts',
  'test/hardening/crash.test.ts',
  'test/hardening/credentials.test.ts',
  'test/hardening/faults.test.ts',
  'test/hardening/publish-symlinks.test.ts',
  'test/hardening/pull-round2.test.ts',
  'test/hardening/terminal-escapes.test.ts',
  'test/project-files/resolve-registry.test.ts',
  'test/project/install-registry.test.ts',
  'test/project/config-install.test.ts',
  'test/project/cold-install-registry.test.ts',
  'test/project/install-settles-registry.test.ts',
  'test/registry-http/auth-servers.test.ts',
  'test/registry-http/mtls.test.ts',
  'test/registry-http/real-registries.test.ts',
];
const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  teardownTimeout: 30_000,
  pool: 'forks' as const,
  setupFiles: ['test/harness/user-dirs.ts'],
};

export default defineConfig({
  test: {
    reporters: ['default', './test/harness/summary-reporter.ts'],
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...INTEGRATION, '**/node_modules/**'],
        },
      },
      {
        test: {
          ...shared,
          name: 'integration',
          include: INTEGRATION,
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/harness/global-setup.ts'],
        },
      },
    ],
  },
});
