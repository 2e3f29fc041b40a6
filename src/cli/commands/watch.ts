import type { Command } from 'commander';
import { watchProject } from '../../watch/session.js';
import { EXIT, type GlobalOptions } from '../../app/index.js';
import { COMMANDS, SELECTOR_HELP } from '../context.js';

interface WatchFlags {
  jobs?: string;
  keepGoing?: boolean;
  json?: boolean;
  verify?: boolean;
  debounce?: string;
  poll?: boolean;
}

export function registerWatch(program: Command, setExit: (code: number) => void): void {
  program
    .command('watch')
    .description('build, then rebuild what each saved change affects; running steps whose key is unchanged go on')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('-j, --jobs <n>', 'run at most N steps at once, over all pools')
    .option('-k, --keep-going', 'after a failure, still build everything that does not depend on it')
    .option('--json', 'NDJSON events on stdout: those of build, plus trigger and cancelled, and a summary per rebuild')
    .option('--verify', 're-hash every input, output and stored blob instead of trusting the stat cache')
    .option('--debounce <ms>', 'wait this long after the last change before rebuilding (default: watch.debounce_ms, else 200)')
    .option('--poll', 'poll files instead of waiting for filesystem events (network and container filesystems)')
    .addHelpText(
      'after',
      `${SELECTOR_HELP}

Watched: the manifest, mlc.build.lock, local model folders, the web runtime and the toolchain's
installed files; never out/, the store or the HF cache. A change counts when the content differs.
A running step whose key changed is cancelled (watch.supersede.<kind>: finish lets it finish).
Ctrl-C stops it (exit 130).`,
    )
    .action(async (selectors: string[], flags: WatchFlags) => {
      const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
        process.stderr.write(`mlc-build: --jobs must be a positive integer, got ${flags.jobs}\n`);
        setExit(EXIT.usage);
        return;
      }
      const debounce = flags.debounce === undefined ? undefined : Number(flags.debounce);
      if (debounce !== undefined && (!Number.isInteger(debounce) || debounce < 0)) {
        process.stderr.write(`mlc-build: --debounce must be a whole number of milliseconds, got ${flags.debounce}\n`);
        setExit(EXIT.usage);
        return;
      }
      setExit(
        await watchProject({
          global: program.opts<GlobalOptions>(),
          selectors,
          commands: COMMANDS,
          jobs,
          keepGoing: flags.keepGoing ?? false,
          json: flags.json ?? false,
          verify: flags.verify ?? false,
          debounceMs: debounce,
          poll: flags.poll,
        }),
      );
    });
}
