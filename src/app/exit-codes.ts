// Outcomes → exit codes, in one place: what a build of a selection, a watch or a command ends with.
import type { BuildOutcome } from '../exec/build.js';

export const EXIT = {
  ok: 0,
  stepFailed: 1,
  usage: 2,
  /** A bug in mlc-build (EX_SOFTWARE). */
  internal: 70,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A build's exit code: interrupted wins over a bug, a bug over failed steps or a disk that refused the build's own files. */
export function buildExit(outcome: BuildOutcome, interrupted: boolean): ExitCode {
  if (interrupted) return EXIT.interrupted;
  if (outcome.internalErrors > 0) return EXIT.internal;
  return outcome.counts.failed > 0 || outcome.problems.length > 0 ? EXIT.stepFailed : EXIT.ok;
}
