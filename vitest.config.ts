// Unit tests sit beside the code (*.test.ts); integration tests (*.int.test.ts) use the local stack.
// Files run one at a time: the stack is shared, and test/stack-restart kills its servers.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.stack/**'],
    fileParallelism: false,
    globalSetup: ['test/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The services the tests start use the secrets published in this repository.
    env: { DEV_MODE: 'true' },
  },
});
