// Running a build of selected nodes, shared by `build`, `release` and `matrix`: the context, the
// observers of its events, interrupts, the summary, the no-op stamp and the exit code.
import { resolve } from 'node:path';
import { runBuild, summaryEvent, type BuildOutcome } from '../exec/build.js';
import type { Emit } from '../exec/events.js';
import { formatBytes } from '../manifest/units.js';
import { blockedText } from '../report/build-log.js';
import { buildLog } from '../report/build-output.js';
import { Profile } from '../report/profile.js';
import { storeSize } from '../store/gc.js';
import type { ForeignKey } from '../toolchain/managed/foreign.js';
import { openContext } from './context.js';
import { buildExit, type ExitCode } from './exit-codes.js';
import { listenForInterrupts } from './interrupts.js';
import { jobsFor, thisMachine } from './machine.js';
import { noopBuildOutput, recordNoop, type NoopRun } from './noop-record.js';
import { deleteStamps } from './noop-stamp.js';
import type { GlobalOptions, Project } from './project.js';

export interface BuildFlags {
  update?: boolean;
  keepGoing?: boolean;
  json?: boolean;
  verify?: boolean;
  profile?: string;
}

/** The stamp ends when a result the remote cache was seen to hold is due a re-check: that build must ask it. */
function recheckDue(outcome: BuildOutcome): { until?: number } {
  const due = outcome.remote.map((r) => r.recheckAt).filter((t) => t !== undefined);
  return due.length > 0 ? { until: Math.min(...due) } : {};
}

/** Under MLC_BUILD_NOOP_TRACE, says whether the build left a no-op stamp. */
export function traceStamp(result: { written: true } | { written: false; why: string }): void {
  if (!process.env.MLC_BUILD_NOOP_TRACE) return;
  process.stderr.write(result.written ? 'mlc-build: no-op stamp written\n' : `mlc-build: no-op stamp not written: ${result.why}\n`);
}

export async function buildSelected(
  project: Project,
  selected: Set<string>,
  flags: BuildFlags,
  global: GlobalOptions,
  run: {
    jobs: number | undefined;
    force: ReadonlySet<string> | undefined;
    /** A command line a no-op stamp can answer: a complete build writes its stamp. */
    noop?: NoopRun;
    /** Other machines' targets: looked up with their keys, never run here (release, matrix). */
    foreign?: { keys: ReadonlyMap<string, ForeignKey>; restoreOnly: ReadonlyMap<string, string> };
  },
): Promise<{ exit: ExitCode; outcome: BuildOutcome }> {
  const { manifest } = project;
  // The summary's time is the build's wall time: setting up the toolchain (a 30 s install that finds no network) counts.
  const started = Date.now();
  deleteStamps(manifest.root, process.env); // this build decides anew; only its success may stamp
  // The first signal stops the steps, a second kills them (interrupts.ts); the build then ends as usual.
  const interrupts = listenForInterrupts();
  try {
    const ctx = await openContext(project, {
      readOnly: false,
      verify: flags.verify,
      update: flags.update,
      tokenFile: global.tokenFile,
      signal: interrupts.stop,
    });
    if (run.foreign) ctx.foreign = run.foreign.keys;
    const blocked = await ctx.preflight(selected);
    if (blocked.size > 0) process.stderr.write(blockedText(blocked));

    // Observers of one event stream: the log (NDJSON, the live view or plain lines) and the profile.
    let warnings = 0;
    const observers: Emit[] = [buildLog(flags.json === true, selected.size).observe, (e) => (warnings += e.event === 'warning' ? 1 : 0)];
    const profile = flags.profile === undefined ? undefined : new Profile();
    if (profile) observers.push(profile.observe);
    const emit: Emit = (e) => {
      for (const o of observers) o(e);
    };
    const machine = thisMachine();
    const jobs = jobsFor(manifest, machine, run.jobs);
    const outcome = await runBuild(
      ctx,
      selected,
      {
        jobs,
        machine,
        keepGoing: flags.keepGoing ?? false,
        signal: interrupts.stop,
        kill: interrupts.kill,
        blocked,
        force: run.force,
        restoreOnly: run.foreign?.restoreOnly,
      },
      emit,
    );
    const limit = manifest.cacheLimits.maxSize;
    if (limit !== undefined) {
      const size = await storeSize(manifest.cache);
      if (size > limit)
        emit({
          event: 'warning',
          message: `the store ${manifest.cache} holds ${formatBytes(size)}, over cache.max_size ${formatBytes(limit)}: run mlc-build gc`,
        });
    }
    emit(summaryEvent({ ...outcome, ms: Date.now() - started }));
    if (profile && flags.profile) {
      const file = resolve(flags.profile);
      await profile.write(file);
      process.stderr.write(`mlc-build: profile written to ${file}\n`);
    }
    const { counts } = outcome;
    // Failed uploads are tried again by the next build: it must take the full path.
    const complete =
      counts.failed + counts.skipped + counts.interrupted === 0 &&
      outcome.problems.length === 0 &&
      !interrupts.stop.aborted &&
      outcome.remote.every((r) => r.uploadFailures === 0);
    // A no-op prints what the stamp holds: a build that warned or found steps blocked would print more.
    const stampable = complete && warnings === 0 && blocked.size === 0;
    if (run.noop) {
      const stamped = stampable
        ? recordNoop(project, ctx, run.noop, { printed: noopBuildOutput(project, outcome, flags.json === true), ...recheckDue(outcome) })
        : undefined;
      traceStamp(stamped ?? { written: false, why: 'the build was not complete, warned or had blocked steps' });
    }
    return {
      outcome,
      exit: buildExit(outcome, interrupts.stop.aborted),
    };
  } finally {
    interrupts.close();
  }
}
