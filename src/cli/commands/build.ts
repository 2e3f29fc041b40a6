import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { runBuild, summaryEvent } from '../../exec/build.js';
import { formatBytes } from '../../manifest/units.js';
import { storeSize } from '../../store/gc.js';
import { buildLog, jobsFor, thisMachine } from '../build-setup.js';
import { deleteStamp, envDigest, manifestDigest, writeStamp } from '../noop-stamp.js';
import { projectStatePath } from '../../store/project-state.js';
import { STAT_CACHE_FILE } from '../../store/store.js';
import { skipText } from '../host-aware.js';
import { lockProject } from '../lock.js';
import type { Project } from '../project.js';
import { STAMPED_ARGV } from '../fast.js';
import type { Emit } from '../../exec/events.js';
import { Profile } from '../../report/profile.js';
import { blockedText } from '../../report/build-log.js';
import { EXIT } from '../exit-codes.js';
import { loadSelected, openContext, readOnlyPlan, SELECTOR_HELP, type GlobalOptions } from '../context.js';
import { planTable } from '../../report/plan-text.js';

interface BuildFlags {
  wait: boolean;
  update?: boolean;
  jobs?: string;
  keepGoing?: boolean;
  json?: boolean;
  verify?: boolean;
  profile?: string;
  dryRun?: boolean;
  force?: boolean;
}

/** mlc-build's own code and data: a no-op stamp is void once they change. */
function codeFiles(): string[] {
  const here = fileURLToPath(import.meta.url);
  const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
  return [here, join(dirname(here), 'fast.bundle.mjs'), ...readdirSync(recipes).map((f) => join(recipes, f))];
}

export function registerBuild(program: Command, setExit: (code: number) => void, argv: readonly string[]): void {
  program
    .command('build', { isDefault: true })
    .description('build what changed (the default command)')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('-j, --jobs <n>', 'run at most N steps at once, over all pools (default: no cap beyond the pools)')
    .option('-k, --keep-going', 'after a failure, still build everything that does not depend on it')
    .option('--json', 'NDJSON events on stdout: start, run, progress, finish, warning, then one summary')
    .option('--verify', 're-hash every input, output and stored blob instead of trusting the stat cache')
    .option('--update', 're-resolve hub revisions instead of using the commits pinned in mlc.build.lock')
    .option('--profile <file>', 'write a Chrome trace-event file of the build (open it in ui.perfetto.dev)')
    .option('-n, --dry-run', 'print the plan (what would run, and why) instead of building')
    .option('-B, --force', 're-run the steps the selectors pick (all without selectors) even when fresh; their dependencies build as usual')
    .option('--no-wait', 'fail at once if another build of this project is running, instead of waiting for it')
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], flags: BuildFlags) => {
      const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
        process.stderr.write(`mlc-build: --jobs must be a positive integer, got ${flags.jobs}\n`);
        return setExit(EXIT.usage);
      }
      const loaded = await loadSelected(program.opts<GlobalOptions>(), selectors, { skip: true });
      if ('exit' in loaded) return setExit(loaded.exit);
      const { project, selected } = loaded;
      const skipped = skipText(project, loaded.sel, loaded.host, selected);
      if (skipped) process.stderr.write(skipped);
      const { manifest } = project;
      if (flags.dryRun) {
        process.stdout.write(planTable(await readOnlyPlan(project, selected)));
        return;
      }
      // Found before any step runs: a --profile folder that does not exist, an out/ that cannot be written.
      if (flags.profile !== undefined && !existsSync(dirname(resolve(flags.profile)))) {
        process.stderr.write(`mlc-build: --profile ${flags.profile}: the folder ${dirname(resolve(flags.profile))} does not exist\n`);
        return setExit(EXIT.usage);
      }
      const unwritable = outputFolderProblem(manifest.out);
      if (unwritable) {
        process.stderr.write(
          `mlc-build: cannot write to the output folder ${relative(process.cwd(), manifest.out) || manifest.out}: ${unwritable} (change out: in the manifest, or its permissions)\n`,
        );
        return setExit(EXIT.usage);
      }
      const locked = await lockProject(manifest, flags.wait);
      if (!locked) return setExit(EXIT.stepFailed);
      try {
        await build(project, selected, flags, jobs, loaded.host.folders, flags.force ? new Set(loaded.roots) : undefined);
      } finally {
        await locked.release();
      }
    });

  async function build(
    project: Project,
    selected: Set<string>,
    flags: BuildFlags,
    jobsFlag: number | undefined,
    hostFolders: readonly string[],
    force: ReadonlySet<string> | undefined,
  ): Promise<void> {
    const { manifest } = project;
    deleteStamp(manifest.root, process.env); // this build decides anew; only its success may stamp
    const global = program.opts<GlobalOptions>();
    const ctx = await openContext(project, { readOnly: false, verify: flags.verify, update: flags.update, tokenFile: global.tokenFile });
    const blocked = await ctx.preflight(selected);
    if (blocked.size > 0) process.stderr.write(blockedText(blocked));

    // Observers of one event stream: the log (NDJSON, the live view or plain lines) and the profile.
    const observers: Emit[] = [buildLog(flags.json === true, selected.size).observe];
    const profile = flags.profile === undefined ? undefined : new Profile();
    if (profile) observers.push(profile.observe);
    const emit: Emit = (e) => {
      for (const o of observers) o(e);
    };
    // The first signal stops the steps (SIGTERM; a step that ignores it is killed after a grace
    // period, as `docker stop` does); a second kills them at once. Either way the build then ends
    // as usual: results recorded, staging cleared, the summary, exit 130.
    const controller = new AbortController();
    const killer = new AbortController();
    let interrupts = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write(`\nmlc-build: ${signal}: stopping the running steps (again to kill them at once)\n`);
        controller.abort();
      } else {
        process.stderr.write(`mlc-build: ${signal}: killing the running steps\n`);
        killer.abort();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const machine = thisMachine();
      const jobs = jobsFor(manifest, machine, jobsFlag);
      const outcome = await runBuild(
        ctx,
        selected,
        { jobs, machine, keepGoing: flags.keepGoing ?? false, signal: controller.signal, kill: killer.signal, blocked, force },
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
      emit(summaryEvent(outcome));
      if (profile && flags.profile) {
        const file = resolve(flags.profile);
        await profile.write(file);
        process.stderr.write(`mlc-build: profile written to ${file}\n`);
      }
      const { counts } = outcome;
      // Failed uploads are tried again by the next build: it must take the full path.
      const complete =
        counts.failed + counts.skipped + counts.interrupted === 0 && !controller.signal.aborted && outcome.remote.every((r) => r.uploadFailures === 0);
      if (complete && STAMPED_ARGV.some((a) => a.length === argv.length && a.every((w, i) => w === argv[i]))) {
        writeStamp(
          {
            argv: [...argv],
            root: manifest.root,
            manifest: manifestDigest(manifest.source.text),
            env: envDigest(process.env),
            fresh: counts.ran + counts.cached + counts.fresh,
          },
          [...ctx.store.stats.observed, projectStatePath(manifest.cache, manifest.root), join(manifest.cache, STAT_CACHE_FILE), ...codeFiles()],
          new Set([...ctx.observedDirs, ...hostFolders]),
          process.env,
        );
      }
      setExit(
        controller.signal.aborted ? EXIT.interrupted : outcome.internalErrors > 0 ? EXIT.internal : outcome.counts.failed > 0 ? EXIT.stepFailed : EXIT.ok,
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Why out/ cannot be written, if it cannot: tried by writing a probe file there. */
function outputFolderProblem(out: string): string | undefined {
  const probe = join(out, `.mlc-build-probe-${process.pid}`);
  try {
    mkdirSync(out, { recursive: true });
    writeFileSync(probe, '');
    rmSync(probe);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EROFS'
      ? 'it is on a read-only filesystem'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file stands where a folder must be'
          : (e as Error).message;
  }
}
