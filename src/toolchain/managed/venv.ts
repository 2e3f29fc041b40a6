// The venvs of the managed toolchain. Making a venv with pip costs seconds (ensurepip installs and
// compiles pip, and setuptools before Python 3.12); without pip, a tenth of a second. So one venv
// with pip is kept per store and Python (`toolchains/pip-<digest>/`), and its pip resolves,
// downloads, and installs into each toolchain's venv (pip's --python), which is made without pip:
// it holds the pinned distributions alone. The kept pip is made in a folder of its own and renamed
// into place once complete, so a killed run leaves nothing that is trusted; only `python -m pip` is
// ever run from it, which a move does not break (its scripts' #! lines are never used).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from '../../result.js';
import { sha256 } from '../../store/hash.js';
import { pipEnvironment, runLogged, type PipRun } from './pip.js';
import { envBinary, type PythonInfo } from './python.js';

export interface VenvOptions {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  projectRoot: string;
  log?: string;
  onSpawn?: (pid: number) => void;
  /** With pip (ensurepip); a toolchain's venv is made without, the kept pip installs into it. */
  withPip: boolean;
}

export function makeVenv(python: PythonInfo, dir: string, opts: VenvOptions): Promise<PipRun> {
  return runLogged(
    [python.exe, '-m', 'venv', ...(opts.withPip ? [] : ['--without-pip']), dir],
    { cwd: opts.projectRoot, env: pipEnvironment(opts.env), signal: opts.signal, log: opts.log ?? `${dir}.venv.log`, onSpawn: opts.onSpawn },
    () => `${python.exe} -m venv failed: Python's venv module is missing or broken (Debian: apt-get install python3-venv)`,
  );
}

/** Written into the kept pip's folder before it is renamed into place. */
const KEPT = '.mlc-build-pip';

/**
 * The venv whose pip the store uses for this Python, made the first time it is needed. Named by
 * the interpreter's path, version and platform, so a Python upgraded in place gets its own.
 */
export async function keptPip(
  python: PythonInfo,
  opts: Omit<VenvOptions, 'withPip' | 'log' | 'onSpawn'> & { storeRoot: string; say?: (line: string) => void },
): Promise<Result<string, string>> {
  const digest = sha256(JSON.stringify([python.exe, python.version, python.platform])).slice(0, 20);
  const dir = join(opts.storeRoot, 'toolchains', `pip-${digest}`);
  if (isComplete(dir)) return ok(dir);
  const tmp = join(opts.storeRoot, 'toolchains', 'tmp', `pip-${digest}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(tmp, '..'), { recursive: true });
  opts.say?.(`making pip's environment for Python ${python.version} (once per store)`);
  try {
    const made = await makeVenv(python, tmp, { ...opts, log: `${tmp}.log`, withPip: true });
    if (!made.ok) return made;
    if (!existsSync(envBinary(tmp, 'pip'))) return err(`${python.exe} -m venv made no pip: its ensurepip is missing (Debian: apt-get install python3-venv)`);
    await writeFile(join(tmp, KEPT), `${python.exe} ${python.version}\n`);
    // What is in its place is incomplete (or its Python is gone): replaced. Another process may
    // have put a complete one there meanwhile; then that one is used.
    if (!isComplete(dir)) await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(() => undefined);
    return isComplete(dir) ? ok(dir) : err(`cannot keep pip's environment at ${dir}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(`${tmp}.log`, { force: true });
  }
}

/** Its marker is there and its python runs (a symlink to an interpreter that still exists). */
function isComplete(dir: string): boolean {
  return existsSync(join(dir, KEPT)) && existsSync(envBinary(dir, 'python'));
}
