// Running a build of selected nodes, shared by `build`, `release` and `matrix`: the context, the
// observers of its events, interrupts, the summary, the no-op stamp and the exit code.
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBuild, summaryEvent, type BuildOutcome } from '../exec/build.js';
import type { Emit } from '../exec/events.js';
import { LOCK_FILE } from '../lockfile/lock-file.js';
import { formatBytes } from '../manifest/units.js';
import { blockedText } from '../report/build-log.js';
import { buildLog } from '../report/build-output.js';
import { Profile } from '../report/profile.js';
import { storeSize } from '../store/gc.js';
import { projectStatePath } from '../store/project-state.js';
import { STAT_CACHE_FILE } from '../store/store.js';
import type { ForeignKey } from '../toolchain/managed/foreign.js';
import { openContext } from './context.js';
import { buildExit, type ExitCode } from './exit-codes.js';
import { listenForInterrupts } from './interrupts.js';
import { jobsFor, thisMachine } from './machine.js';
import { deleteStamp, envDigest, isStampedArgv, manifestDigest, writeStamp } from './noop-stamp.js';
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

/** mlc-build's own code and data: a no-op stamp is void once they change. Paths are the bundle's (lib/cli/). */
function codeFiles(): string[] {
  const here = fileURLToPath(import.meta.url);
  const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
  return [here, join(dirname(here), 'fast.bundle.mjs'), ...readdirSync(recipes).map((f) => join(recipes, f))];
}

export async function buildSelected(
  project: Project,
  selected: Set<string>,
  flags: BuildFlags,
  global: GlobalOptions,
  run: {
    jobs: number | undefined;
    hostFolders: readonly string[];
    force: ReadonlySet<string> | undefined;
    argv?: readonly string[];
    /** Other machines' targets: looked up with their keys, never run here (release, matrix). */
    foreign?: { keys: ReadonlyMap<string, ForeignKey>; restoreOnly: ReadonlyMap<string, string> };
  },
): Promise<{ exit: ExitCode; outcome: BuildOutcome }> {
  const { manifest } = project;
  // The summary's time is the build's wall time: setting up the toolchain (a 30 s install that finds no network) counts.
  const started = Date.now();
  deleteStamp(manifest.root, process.env); // this build decides anew; only its success may stamp
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
    const observers: Emit[] = [buildLog(flags.json === true, selected.size).observe];
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
    const argv = run.argv;
    if (complete && argv && isStampedArgv(argv)) {
      writeStamp(
        {
          argv: [...argv],
          root: manifest.root,
          manifest: manifestDigest(manifest.source.text),
          env: envDigest(process.env),
          fresh: counts.ran + counts.cached + counts.fresh,
          ...recheckDue(outcome),
        },
        [
          ...ctx.store.stats.observed,
          projectStatePath(manifest.cache, manifest.root),
          join(manifest.cache, STAT_CACHE_FILE),
          // The pins (sources, a managed toolchain) and the managed environment's mlc_llm.
          join(manifest.root, LOCK_FILE),
          ...(project.toolchain.from === 'managed' ? [project.toolchain.argv[0] as string] : []),
          ...codeFiles(),
        ],
        new Set([...ctx.observedDirs, ...run.hostFolders]),
        process.env,
      );
    }
    return {
      outcome,
      exit: buildExit(outcome, interrupts.stop.aborted),
    };
  } finally {
    interrupts.close();
  }
}
