import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Property and fuzz tests run thousands of cases; keep the default timeout honest.
    testTimeout: 30_000,
    reporters: process.env['CI'] ? ['default'] : ['default'],
  },
});
