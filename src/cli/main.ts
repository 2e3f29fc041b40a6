// src/cli/ owns the command line only: parsing argv with commander (one file per command in
// commands/), printing, and the exit code each command sets. What commands do is app/'s.
//
// mlc-build's command line: parse argv, call the layers, map results to output and exit codes.
import { Command, CommanderError } from 'commander';
import { registerBuild } from './commands/build.js';
import { registerCi } from './commands/ci.js';
import { registerClean } from './commands/clean.js';
import { registerDoctor } from './commands/doctor.js';
import { registerExplain } from './commands/explain.js';
import { registerGc } from './commands/gc.js';
import { registerInit } from './commands/init.js';
import { registerMatrix } from './commands/matrix.js';
import { registerPlan } from './commands/plan.js';
import { registerPublish } from './commands/publish.js';
import { registerRelease } from './commands/release.js';
import { registerStatus } from './commands/status.js';
import { registerToolchain } from './commands/toolchain.js';
import { registerWatch } from './commands/watch.js';
import { COMMANDS } from './command-names.js';
import { readNoopRequest } from './noop-request.js';
import { EXIT } from '../app/index.js';
import { packageVersion } from './version.js';

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command('mlc-build')
    .description('Build MLC LLM model libraries: models × quantizations × targets, incrementally.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-C, --directory <dir>', 'run as if started in DIR (as make -C and ninja -C do)')
    .option('-c, --config <file>', 'manifest file (default: mlc.build.yaml, found from the current folder up)')
    .option('--all-hosts', 'try every cell, also those this host cannot build (MLC_BUILD_ALL_HOSTS=1 does the same)')
    .option('--remote-cache <url>', 'share results through this Bazel HTTP cache (over MLC_BUILD_REMOTE_CACHE and remote_cache.url)')
    .option('--remote-cache-read-only', 'fetch from the remote cache, never upload to it (for untrusted jobs such as pull requests)')
    .option('--no-remote-cache', 'use no remote cache, whatever the env and the manifest say')
    .option('--remote-cache-timeouts <list>', 'remote cache timeouts, over remote_cache: e.g. connect=3s,first-byte=10s,idle=10s (any of them)')
    .option('--token-file <file>', 'a file holding the Hugging Face token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then HF_HOME/token)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run mlc-build --help for usage)');
  // Read before commander runs (and before -C changes the folder), as the fast path read it.
  const read = readNoopRequest(argv, process.cwd(), process.env);
  registerBuild(program, setExit, read);
  registerPlan(program, setExit);
  registerStatus(program, setExit, read);
  registerWatch(program, setExit);
  registerMatrix(program, setExit);
  registerCi(program, setExit);
  registerRelease(program, setExit);
  registerPublish(program, setExit);
  registerExplain(program, setExit);
  registerClean(program, setExit);
  registerGc(program, setExit);
  registerDoctor(program, setExit);
  registerInit(program, setExit);
  registerToolchain(program, setExit);

  program.hook('preAction', () => {
    const dir = program.opts<{ directory?: string }>().directory;
    if (dir === undefined) return;
    try {
      process.chdir(dir);
    } catch (e) {
      process.stderr.write(`mlc-build: -C ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (e as Error).message}\n`);
      throw new CommanderError(EXIT.usage, 'mlc-build.directory', `cannot enter ${dir}`);
    }
  });
  const registered = program.commands.map((c) => c.name());
  if (registered.join(' ') !== COMMANDS.join(' ')) {
    throw new Error(`COMMANDS in cli/command-names.ts (${COMMANDS.join(' ')}) must name the registered commands (${registered.join(' ')})`);
  }

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
