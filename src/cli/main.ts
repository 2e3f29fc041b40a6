// mlc-build's command line: parse argv, call the layers, map results to output and exit codes.
import { Command, CommanderError } from 'commander';
import { registerBuild } from './commands/build.js';
import { registerClean } from './commands/clean.js';
import { registerDoctor } from './commands/doctor.js';
import { registerExplain } from './commands/explain.js';
import { registerGc } from './commands/gc.js';
import { registerPlan } from './commands/plan.js';
import { registerStatus } from './commands/status.js';
import { EXIT } from './exit-codes.js';

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command('mlc-build')
    .description('Build MLC LLM model libraries: models × quantizations × targets, incrementally.')
    .option('-c, --config <file>', 'manifest file (default: mlc.build.yaml, found from the current folder up)')
    .option('--all-hosts', 'try every cell, also those this host cannot build (MLC_BUILD_ALL_HOSTS=1 does the same)')
    .option('--token-file <file>', 'a file holding the Hugging Face token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then HF_HOME/token)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run mlc-build --help for usage)');
  registerBuild(program, setExit, argv);
  registerPlan(program, setExit);
  registerStatus(program, setExit);
  registerExplain(program, setExit);
  registerClean(program, setExit);
  registerGc(program, setExit);
  registerDoctor(program, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    throw e;
  }
  return exitCode;
}
