import { defineConfig } from 'vitest/config';

// One project per workspace package. `npm test` runs them in two steps: every
// package's suites in parallel, then the browser and cluster suites in `e2e/`
// alone, so Chromium and the service worker are not starved of the 2 cores
// the other suites share. Suites that need PostgreSQL, NATS or Redis decide
// for themselves whether to run (platform/src/testing/services.ts): with
// CI=true they must. In CI a JSON report is also written, for the summary line.
export default defineConfig({
  test: {
    projects: [
      'protocol',
      'platform',
      'auth-server',
      'sync-server',
      'notifier',
      'all-in-one',
      'client',
      'bench',
      'e2e',
    ],
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
  },
});
