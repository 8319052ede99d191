import { defineProject } from 'vitest/config';

// The harness's pure parts (the report's arithmetic); the benchmarks themselves run through `npm run bench`.
export default defineProject({
  test: {
    name: 'bench',
    include: ['src/**/*.test.ts'],
  },
});
