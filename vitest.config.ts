import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Property and fuzz tests run thousands of cases; live tests wait for a kernel.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Live tests share one kernel (per-CPU caches, the per-CPU allocator, charge stocks), so no
    // file runs beside another: no measurement sees another test's work.
    fileParallelism: false,
  },
});
