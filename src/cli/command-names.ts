// The CLI's command names, in the order main registers them, to tell a misplaced command from a
// selector. A constant, not filled at start-up: main checks that it registers exactly these. Kept
// apart from context.ts so that the fast path (fast.ts) can read it without the build code.
export const COMMANDS: readonly string[] = [
  'build',
  'plan',
  'graph',
  'status',
  'watch',
  'matrix',
  'ci',
  'release',
  'publish',
  'explain',
  'clean',
  'gc',
  'doctor',
  'init',
  'toolchain',
];
