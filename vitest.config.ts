import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One test file per core, at least two. Vitest's default leaves a core to its main process
    // (one file at a time on 2 cores), but here that process idles: an end-to-end file spends its
    // time in the CLI, Python and pip it starts, mostly one at a time, so a file keeps about one
    // core busy. Each file uses temp folders of its own, so files can run side by side.
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: ['default', './test/plain-summary-reporter.ts'],
  },
});
