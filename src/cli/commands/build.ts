import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { skipText } from '../host-aware.js';
import { lockProject } from '../lock.js';
import { EXIT } from '../exit-codes.js';
import { loadSelected, readOnlyPlan, SELECTOR_HELP, type GlobalOptions } from '../context.js';
import { planTable } from '../../report/plan-text.js';
import { buildSelected, outputFolderProblem, type BuildFlags } from '../run-build.js';

interface BuildCommandFlags extends BuildFlags {
  wait: boolean;
  jobs?: string;
  dryRun?: boolean;
  force?: boolean;
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
    .action(async (selectors: string[], flags: BuildCommandFlags) => {
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
        const built = await buildSelected(project, selected, flags, program.opts<GlobalOptions>(), {
          jobs,
          hostFolders: loaded.host.folders,
          force: flags.force ? new Set(loaded.roots) : undefined,
          argv,
        });
        setExit(built.exit);
      } finally {
        await locked.release();
      }
    });
}
