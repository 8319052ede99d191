import { defineProject } from 'vitest/config';

// Browser suites: one app process and one Chromium per file, files one after
// the other (2 shared CPU cores). The first run may build the client.
export default defineProject({
  test: {
    name: 'e2e',
    include: ['*.e2e.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
