import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e tests share one control plane started by their own setup; unit and http tests are fast.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
