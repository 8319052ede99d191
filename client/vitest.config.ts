import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'client',
    include: [
      'lib/**/*.test.ts',
      'app/**/*.test.ts',
      'components/**/*.test.ts',
      'server.test.ts',
      'config.test.ts',
      'build-state.test.ts',
    ],
    environment: 'node',
    testTimeout: 20_000,
  },
});
