// The Python a managed toolchain is built with: `toolchain.install.python`, else the first of
// recipes/wheels.json's commands on PATH (python3.11, as MLC recommends, then python3); asked for
// its version and platform, and refused with the versions that work when it is too old or new.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { wheels } from '../../recipes/index.js';
import { err, ok, type Result } from '../../result.js';
import { which } from '../fingerprint.js';

const run = promisify(execFile);

/** A program in a venv (`bin/`, or `Scripts/` on Windows). */
export const envBinary = (dir: string, name: string): string => (process.platform === 'win32' ? join(dir, 'Scripts', `${name}.exe`) : join(dir, 'bin', name));

export interface PythonInfo {
  /** The interpreter's path. */
  exe: string;
  /** "3.11.7" */
  version: string;
  /**
   * "3.11": what the pins and the fingerprint hold. Wheels are built per minor version (the
   * platform's cp311), so machines whose Python differs only in its patch level share them.
   */
  minor: string;
  /** The lock's key: platform, machine and ABI, e.g. "linux_x86_64-cp311" (no OS version, so machines share it). */
  platform: string;
}

const PROBE =
  'import json, platform, sys; print(json.dumps({"version": platform.python_version(), "system": platform.system().lower(), "machine": platform.machine().lower(), "abi": sys.implementation.cache_tag or ""}))';

export async function findPython(requested: string | undefined, cwd: string, env: NodeJS.ProcessEnv): Promise<Result<PythonInfo, string>> {
  const w = wheels().python;
  const names = requested !== undefined ? [requested] : w.commands;
  let exe: string | undefined;
  for (const n of names) {
    exe = await which(n, cwd, env);
    if (exe) break;
  }
  const works = `MLC's wheels are built for Python ${w.min} to ${w.max} (${w.recommended} recommended)`;
  if (!exe) {
    return err(
      `${requested !== undefined ? `toolchain.install.python ${JSON.stringify(requested)}` : `none of ${names.join(', ')}`} found on PATH: ${works}; install one (with its venv module: Debian's python3-venv) or set toolchain.install.python`,
    );
  }
  let probe: { version: string; system: string; machine: string; abi: string };
  try {
    const { stdout } = await run(exe, ['-c', PROBE], { cwd, env, timeout: 30_000 });
    probe = JSON.parse(stdout) as typeof probe;
  } catch (e) {
    return err(`${exe} does not run as Python: ${(e as Error).message.split('\n')[0]}`);
  }
  const [major, minor] = probe.version.split('.').map(Number);
  const [minMajor, minMinor] = w.min.split('.').map(Number);
  const [maxMajor, maxMinor] = w.max.split('.').map(Number);
  const v = (major ?? 0) * 100 + (minor ?? 0);
  if (v < (minMajor ?? 0) * 100 + (minMinor ?? 0) || v > (maxMajor ?? 0) * 100 + (maxMinor ?? 0)) {
    return err(`${exe} is Python ${probe.version}: ${works}; set toolchain.install.python to one of those`);
  }
  const abi = probe.abi.replace(/^cpython-/, 'cp').replace(/[^a-z0-9]+/g, '');
  return ok({ exe, version: probe.version, minor: `${major}.${minor}`, platform: `${probe.system}_${probe.machine}-${abi}` });
}
