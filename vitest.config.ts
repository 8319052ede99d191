import { defineConfig } from 'vitest/config';

// One project per workspace package; `npm test` at the root runs them all.
// Suites that need PostgreSQL, NATS or Redis decide for themselves whether to
// run (see platform/src/testing/services.ts): with CI=true they must.
export default defineConfig({
  test: {
    projects: ['protocol', 'platform', 'auth-server', 'sync-server', 'notifier', 'all-in-one', 'client', 'e2e'],
  },
});
