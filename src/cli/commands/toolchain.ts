// `mlc-build toolchain install|lock|export|status|path|run -- ARGS`: the managed toolchain
// (toolchain.install) ahead of a build (a CI cache step), pins for other machines, its wheels in a
// folder for an offline machine, what is pinned, installed and available where, and its mlc_llm.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { readLock } from '../../lockfile/lock-file.js';
import { differingPins, type EnsureOptions, type ManagedToolchain } from '../../toolchain/managed/environment.js';
import { exportWheels, lockPlatforms } from '../../toolchain/managed/platforms.js';
import { envBinary } from '../../toolchain/managed/python.js';
import { which } from '../../toolchain/fingerprint.js';
import { indexAvailability } from '../../toolchain/managed/wheels.js';
import { abortOnInterrupt, EXIT, setUpToolchain, wheelStash, type GlobalOptions, type Project } from '../../app/index.js';
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
    .description('pin the toolchain (no install), for this host or other machines (resolved here for their platform and Python); keeps their wheels')
    .option('--platform <keys...>', 'lock platform keys, e.g. darwin_arm64-cp311 linux_x86_64-cp311-cu122 (default: this host)')
    .option('--update', 'resolve again (newer wheels, new pins) instead of keeping what the lock pins')
    .action(async (flags: { platform?: string[]; update?: boolean }) => {
      await lockForPlatforms(program.opts<GlobalOptions>(), flags.platform ?? [], flags.update ?? false, setExit);
    });

  cmd
    .command('export')
    .description('write the pinned wheels and a hashed requirements.txt to DIR, for pip install --no-index on a machine without an index')
    .argument('<dir>', 'the folder to write (made if missing)')
    .option('--platform <key>', 'the lock platform key to export (default: this host)')
    .action(async (dir: string, flags: { platform?: string }) => {
      await exportForPlatform(program.opts<GlobalOptions>(), resolve(dir), flags.platform, setExit);
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

/** The project, with a managed toolchain to pin or export; undefined (exit set) when it has none. */
async function managedProject(global: GlobalOptions, what: string, setExit: (code: number) => void): Promise<Project | undefined> {
  const project = await load(global);
  if (!project) {
    setExit(EXIT.usage);
    return;
  }
  if (!project.manifest.toolchain.install) {
    process.stderr.write(`mlc-build: toolchain ${what}: the manifest has no toolchain.install\n`);
    setExit(EXIT.usage);
    return;
  }
  return project;
}

/** Runs `act` with the options pinning and exporting need: the project's wheel stash (closed after), Ctrl-C. */
async function withWheels<T>(project: Project, act: (opts: EnsureOptions) => Promise<T>): Promise<T> {
  const say = (line: string) => process.stderr.write(`mlc-build: toolchain: ${line}\n`);
  const wheels = await wheelStash(project, say);
  const interrupt = abortOnInterrupt();
  try {
    return await act({
      storeRoot: project.manifest.cache,
      projectRoot: project.manifest.root,
      env: process.env,
      say,
      signal: interrupt.signal,
      wheels: () => Promise.resolve(wheels),
    });
  } finally {
    interrupt.close();
    await wheels.close();
  }
}

/** `toolchain lock [--platform …] [--update]`: pins for this host or other machines, resolved here, and their wheels kept. */
async function lockForPlatforms(global: GlobalOptions, platforms: string[], update: boolean, setExit: (code: number) => void): Promise<void> {
  const project = await managedProject(global, 'lock', setExit);
  const install = project?.manifest.toolchain.install;
  if (!project || !install) return;
  const r = await withWheels(project, (opts) => lockPlatforms(install, platforms, { ...opts, update }));
  if (!r.ok) {
    process.stderr.write(`mlc-build: toolchain: ${r.error}\n`);
    setExit(r.error.startsWith('--platform') ? EXIT.usage : EXIT.stepFailed);
    return;
  }
  for (const { key, pins } of r.value) process.stdout.write(`${key}: ${pins.map((p) => `${p.name} ${p.version}`).join(', ')}\n`);
}

/** `toolchain export DIR [--platform KEY]`: the pinned wheels and a hashed requirements.txt. */
async function exportForPlatform(global: GlobalOptions, dir: string, platform: string | undefined, setExit: (code: number) => void): Promise<void> {
  const project = await managedProject(global, 'export', setExit);
  const install = project?.manifest.toolchain.install;
  if (!project || !install) return;
  const r = await withWheels(project, (opts) => exportWheels(install, platform, dir, opts));
  if (!r.ok) {
    process.stderr.write(`mlc-build: toolchain: ${r.error}\n`);
    setExit(r.error.startsWith('--platform') ? EXIT.usage : EXIT.stepFailed);
    return;
  }
  for (const p of r.value.pins) process.stdout.write(`${dir}/${p.file ?? p.name}\n`);
  process.stdout.write(
    `${dir}/requirements.txt\nthe toolchain for ${r.value.key}, offline: pip install --no-index --require-hashes -r ${dir}/requirements.txt --find-links ${dir}\n`,
  );
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
  process.stdout.write(await availability(project, managed));
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

/** For each pinned wheel, where it is available: the store, the remote cache, the index (asked without downloading). */
async function availability(project: Project, managed: ManagedToolchain): Promise<string> {
  const stash = await wheelStash(project, (line) => process.stderr.write(`mlc-build: toolchain: ${line}\n`), { readOnly: true });
  try {
    const [kept, index] = await Promise.all([stash.availability(managed.pins.map((p) => p.sha256)), indexAvailability(managed.request, managed.pins)]);
    const word = (v: boolean | undefined, none: string) => (v === undefined ? none : v ? 'yes' : 'no');
    const lines = managed.pins.map((p) => {
      const k = kept.get(p.sha256);
      const remote = project.remote ? word(k?.remote, 'no answer') : 'none configured';
      return `  ${p.file ?? `${p.name} ${p.version}`}: store ${word(k?.store, 'no')}, remote ${remote}, index ${word(index.get(p.sha256), 'unknown')}`;
    });
    return `pinned wheels available in the store, the remote cache, the index:\n${lines.join('\n')}\n`;
  } finally {
    await stash.close();
  }
}
