// `mlc-build toolchain install|status|path|run -- ARGS`: the managed toolchain (toolchain.install)
// ahead of a build (a CI cache step), what is pinned and installed, and its mlc_llm.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { readLock } from '../../lockfile/lock-file.js';
import { differingPins, lockPlatforms, type ManagedToolchain } from '../../toolchain/managed/environment.js';
import { envBinary } from '../../toolchain/managed/python.js';
import { which } from '../../toolchain/fingerprint.js';
import { abortOnInterrupt, EXIT, setUpToolchain, type GlobalOptions, type Project } from '../../app/index.js';
import { load } from '../context.js';

export function registerToolchain(program: Command, setExit: (code: number) => void): void {
  const cmd = program.command('toolchain').description('the managed toolchain (toolchain.install): install it, show it, run its mlc_llm');

  /** The project, with its managed toolchain installed (or only looked at). */
  const prepare = async (install: boolean): Promise<{ project: Project; managed?: ManagedToolchain } | undefined> => {
    const project = await load(program.opts<GlobalOptions>());
    if (!project) {
      setExit(EXIT.usage);
      return;
    }
    const interrupt = abortOnInterrupt();
    try {
      // `toolchain install` tries now, whatever an earlier build remembered of an unreachable index.
      const r = await setUpToolchain(project, { install, signal: interrupt.signal, retryNow: install });
      if (r && !r.ok) {
        process.stderr.write(`mlc-build: toolchain: ${r.error}\n`);
        setExit(interrupt.signal.aborted ? EXIT.interrupted : EXIT.stepFailed);
        return;
      }
      return { project, ...(r?.ok ? { managed: r.value } : {}) };
    } finally {
      interrupt.close();
    }
  };

  /** The mlc_llm a build would run: the managed environment's, else the configured command's. */
  const mlcLlm = async (project: Project): Promise<string | undefined> => {
    const [first] = project.toolchain.argv;
    return first === undefined ? undefined : which(first, project.manifest.root, process.env);
  };

  cmd
    .command('install')
    .description('install the managed toolchain now (what a build would do first), pinning it in mlc.build.lock')
    .action(async () => {
      const got = await prepare(true);
      if (!got) return;
      if (!got.managed) return unmanaged(got.project, setExit);
      process.stdout.write(describe(got.managed));
    });

  cmd
    .command('lock')
    .description('pin the toolchain for other machines too (no install): resolved here for their platform and Python')
    .requiredOption('--platform <keys...>', 'lock platform keys, e.g. darwin_arm64-cp311 linux_x86_64-cp311-cu122')
    .action(async (flags: { platform: string[] }) => {
      await lockForPlatforms(program.opts<GlobalOptions>(), flags.platform, setExit);
    });

  cmd
    .command('status')
    .description('what is requested, pinned and installed, and whether the environment matches the lock')
    .action(async () => {
      const got = await prepare(false);
      if (!got) return;
      await showStatus(got.project, got.managed, setExit);
    });

  cmd
    .command('path')
    .description("print the path of the toolchain's mlc_llm (installing a managed one first)")
    .action(async () => {
      const got = await prepare(true);
      if (!got) return;
      const path = await mlcLlm(got.project);
      if (!path) {
        process.stderr.write(`mlc-build: toolchain: ${got.project.toolchain.argv[0] ?? 'mlc_llm'} not found\n`);
        setExit(EXIT.stepFailed);
        return;
      }
      process.stdout.write(`${path}\n`);
    });

  cmd
    .command('run')
    .description("run the toolchain's mlc_llm with ARGS (installing a managed one first), e.g. toolchain run -- --help")
    .argument('[args...]', 'arguments for mlc_llm (after --)')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const got = await prepare(true);
      if (!got) return;
      const { argv } = got.project.toolchain;
      const code = await new Promise<number>((resolve) => {
        const child = spawn(argv[0] as string, [...argv.slice(1), ...args], { stdio: 'inherit' });
        child.on('error', (e) => {
          process.stderr.write(`mlc-build: toolchain: ${argv[0]}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message}\n`);
          resolve(EXIT.stepFailed);
        });
        child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 + 15 : 1)));
      });
      setExit(code);
    });
}

function describe(m: ManagedToolchain): string {
  return [
    `managed toolchain for ${m.platform} (Python ${m.python.version}, ${m.python.exe})`,
    `  requested: ${m.request.packages.join(', ')}${m.request.variant ? ` (the ${m.request.variant} wheels)` : ''}`,
    ...m.pins.map((p) => `  ${p.name} ${p.version}  sha256:${p.sha256.slice(0, 16)}…`),
    `  environment: ${m.dir}${m.installed ? '' : ' (not installed)'}`,
    `  fingerprint: ${m.fingerprint.digest.slice(0, 16)}`,
    '',
  ].join('\n');
}

async function unmanaged(project: Project, setExit: (code: number) => void): Promise<void> {
  const lock = await readLock(project.manifest.root);
  process.stdout.write(
    `no managed toolchain (toolchain.install) in ${project.manifest.file}; builds run ${project.toolchain.argv.join(' ')}${lock.toolchain ? ' (mlc.build.lock still pins one)' : ''}\n`,
  );
  setExit(EXIT.ok);
}

/** `toolchain lock --platform …`: pins for other machines, resolved here. */
async function lockForPlatforms(global: GlobalOptions, platforms: string[], setExit: (code: number) => void): Promise<void> {
  const project = await load(global);
  if (!project) {
    setExit(EXIT.usage);
    return;
  }
  const install = project.manifest.toolchain.install;
  if (!install) {
    process.stderr.write('mlc-build: toolchain lock: the manifest has no toolchain.install to pin\n');
    setExit(EXIT.usage);
    return;
  }
  const r = await lockPlatforms(install, platforms, {
    storeRoot: project.manifest.cache,
    projectRoot: project.manifest.root,
    env: process.env,
    say: (line) => process.stderr.write(`mlc-build: toolchain: ${line}\n`),
  });
  if (!r.ok) {
    process.stderr.write(`mlc-build: toolchain: ${r.error}\n`);
    setExit(r.error.startsWith('--platform') ? EXIT.usage : EXIT.stepFailed);
    return;
  }
  for (const { key, pins } of r.value) process.stdout.write(`${key}: ${pins.map((p) => `${p.name} ${p.version}`).join(', ')}\n`);
}

/** `toolchain status`: what is requested, pinned and installed, and whether it matches the lock. */
async function showStatus(project: Project, managed: ManagedToolchain | undefined, setExit: (code: number) => void): Promise<void> {
  if (!managed) {
    const install = project.manifest.toolchain.install;
    if (install) {
      process.stdout.write(`managed toolchain: not resolved for this host yet (mlc-build toolchain install)\n`);
      setExit(EXIT.stepFailed);
      return;
    }
    return unmanaged(project, setExit);
  }
  process.stdout.write(describe(managed));
  if (!managed.installed) {
    process.stdout.write(`not installed here: mlc-build toolchain install (or a build) installs exactly these\n`);
    setExit(EXIT.stepFailed);
    return;
  }
  const wrong = await differingPins(managed.dir, managed.pins, process.env);
  process.stdout.write(
    wrong.length === 0 ? 'the environment matches mlc.build.lock\n' : `differs from mlc.build.lock: ${wrong.map((p) => p.name).join(', ')}\n`,
  );
  try {
    const { stdout } = await promisify(execFile)(envBinary(managed.dir, 'python'), ['-c', 'import tvm; print(tvm.__file__)']);
    process.stdout.write(`tvm: ${stdout.trim()}\n`);
  } catch (e) {
    process.stdout.write(`tvm: does not import (${(e as Error).message.split('\n').at(-2) ?? 'failed'})\n`);
    setExit(EXIT.stepFailed);
    return;
  }
  if (wrong.length > 0) setExit(EXIT.stepFailed);
}
