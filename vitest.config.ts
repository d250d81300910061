import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Two groups, one after the other:
 * - `unit`: the model, parsers, CLI, server and dashboard tests, on fixtures and the model: files
 *   run side by side, one more worker than there are CPUs (many wait on a child process: the CLI,
 *   clang, chromium). Vitest's default is one fewer than the CPUs: on CI's 2 CPUs, one file at a
 *   time. And a worker keeps the modules it loaded from one file to the next (`isolate: false`):
 *   no unit test mocks a module, stubs a global or leaves the environment changed, and the files
 *   pass in a shuffled order too (`--sequence.shuffle.files`). Measured here (2 CPUs, `time npx
 *   vitest run --project unit`, on one day): 266 s with 1 worker, 213 s with 2, 187 s with 3,
 *   141–148 s with 3 not isolated in three runs (vitest's import time 18–19 s, against 52 s
 *   isolated).
 * - `live`: tests that measure the running kernel (test/live/) and the kernel lab's VMs
 *   (test/lab/). They share one kernel (per-CPU caches, the per-CPU allocator, charge stocks), so
 *   no file runs beside another, nor beside the unit group: no measurement sees another test's work.
 */
const LIVE = ['test/live/**/*.test.ts', 'test/lab/**/*.test.ts'];

export default defineConfig({
  test: {
    // Property and fuzz tests run thousands of cases; live tests wait for a kernel.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The live project runs one file at a time all the same (fileParallelism: false).
    maxWorkers: availableParallelism() + 1,
    // The BPF C fixtures, compiled once before the workers start: no test file forks clang.
    globalSetup: ['test/fixtures/bpf/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: LIVE,
          sequence: { groupOrder: 0 },
          // The live files stay isolated (the default): each starts with no backend or signal handler left by another.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'live',
          include: LIVE,
          fileParallelism: false,
          // test/lab runs its VMs two at a time (it.concurrent): each guest measures its own kernel.
          maxConcurrency: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
