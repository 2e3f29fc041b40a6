// The in-process tests only (test/unit): what mutation testing runs (stryker.config.mjs). The e2e
// files spawn the bundled CLI, which does not load the mutated sources.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// Spread, not mergeConfig: mergeConfig concatenates arrays, which would keep test/e2e in `include`.
export default defineConfig({ ...base, test: { ...base.test, include: ['test/unit/**/*.test.ts'] } });
