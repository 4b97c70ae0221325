import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages export their TypeScript sources under this condition, so tests run from a fresh
  // clone without building first. Plain `node` resolution (and users) get dist/.
  ssr: { resolve: { conditions: ['@shardline/source', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/tests/**/*.test.ts', 'examples/*/tests/**/*.test.ts', 'tests/**/*.test.ts'],
    globalSetup: ['packages/testkit/src/vitestSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Bounded: a test that hangs fails instead of stalling CI.
    teardownTimeout: 15_000,
  },
});
