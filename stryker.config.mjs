// Mutation testing (npm run mutate; README "Mutation testing"). Slow, so not part of `npm test`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // Only the in-process tests: e2e files run the bundled CLI (lib/) in child processes, which never
  // load the sandbox's mutated sources, so under Stryker they would pass for every mutant and only
  // cost time.
  vitest: { configFile: 'vitest.unit.config.ts' },
  // Mutants that do not type-check are dropped before any test runs (CompileError, not counted).
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // Each mutant runs only the tests that executed its code in the dry run.
  coverageAnalysis: 'perTest',
  mutate: [
    'src/store/**/*.ts',
    'src/release/**/*.ts',
    'src/toolchain/**/*.ts',
    'src/ci/**/*.ts',
    'src/steps/**/*.ts',
    'src/graph/**/*.ts',
    'src/manifest/**/*.ts',
    'src/exec/scheduler.ts',
    'src/watch/**/*.ts',
    // No test under test/unit imports these, directly or through another module: only the e2e
    // tests reach them, so every mutant in them would be NoCoverage here.
    '!src/ci/warnings.ts',
    '!src/ci/workflows.ts',
    '!src/manifest/compat.ts',
    '!src/steps/kind.ts',
    '!src/store/durations.ts',
    '!src/store/file-sets.ts',
    '!src/store/outputs.ts',
    '!src/store/project-state.ts',
    '!src/store/published.ts',
    '!src/toolchain/managed/foreign.ts',
    '!src/toolchain/managed/platforms.ts',
    '!src/watch/file-watcher.ts',
    '!src/watch/session.ts',
  ],
  // The sandbox copy needs the sources, tests and configs; not build output or earlier reports.
  ignorePatterns: ['lib', 'demo', 'bench/tmp', '.mlc-build', 'reports'],
  reporters: ['progress', 'clear-text', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Reruns test again only mutants whose code or covering tests changed since the last run.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  // Two cores: one test worker each; the type checker shares them.
  concurrency: 2,
  // Several unit tests wait on real timers (retries, idle timeouts): allow a slow mutant run.
  timeoutMS: 10_000,
  // Stryker's default pattern also rewrites .mjs files (a `// @ts-nocheck` line, and the file's mode
  // lost), which breaks the executable mlc_llm test double the tests run.
  disableTypeChecks: '{src,test}/**/*.ts',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
