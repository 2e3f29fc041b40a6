// Running pip for a managed toolchain. pip's own configuration on this machine (PIP_* variables,
// pip.conf indexes, constraints, user site-packages) must not change what is installed: every
// PIP_* variable and PYTHONPATH/PYTHONHOME are dropped and PIP_CONFIG_FILE is the null device (pip
// then reads no config file). Proxies (HTTPS_PROXY …) and pip's download cache stay: the hashes
// make them harmless. Nightlies are pre-releases, so resolving uses --pre, as MLC's install page does.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { devNull } from 'node:os';
import { runProcess } from '../../exec/run-process.js';
import { err, ok, type Result } from '../../result.js';
import { envBinary } from './python.js';
import type { InstallRequest } from './request.js';

export type PipRun = Result<void, string>;

export function pipEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('PIP_') || k === 'PYTHONPATH' || k === 'PYTHONHOME' || k === 'PYTHONUSERBASE') continue;
    out[k] = v;
  }
  return { ...out, PIP_CONFIG_FILE: devNull, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PYTHONNOUSERSITE: '1' };
}

/** Where pip looks: the index (or none) and the find-links, and --pre. */
export function pipSourceArgs(request: InstallRequest): string[] {
  const index = request.indexUrl === false ? ['--no-index'] : request.indexUrl !== undefined ? ['--index-url', request.indexUrl] : [];
  return ['--pre', ...index, ...request.findLinks.flatMap((l) => ['--find-links', l])];
}

/** pip's lines worth showing while it runs: what it fetches and installs. */
const PROGRESS = /^(Collecting|Downloading|Processing|Installing collected|Successfully installed)\b/;

/** `pip ARGS` with the environment's Python (acting on `into`'s, if given); its output goes to `log`, its last lines into the error. */
export function pip(
  venv: string,
  args: string[],
  opts: {
    env: NodeJS.ProcessEnv;
    signal?: AbortSignal;
    log: string;
    projectRoot: string;
    onSpawn?: (pid: number) => void;
    say?: (line: string) => void;
    into?: string;
  },
): Promise<PipRun> {
  const say = opts.say;
  return runLogged(
    [envBinary(venv, 'python'), '-m', 'pip', ...(opts.into !== undefined ? ['--python', envBinary(opts.into, 'python')] : []), ...args],
    {
      cwd: opts.projectRoot,
      env: pipEnvironment(opts.env),
      signal: opts.signal,
      log: opts.log,
      onSpawn: opts.onSpawn,
      ...(say ? { onLine: (l: string) => PROGRESS.test(l.trim()) && say(`pip: ${l.trim()}`) } : {}),
    },
    (tail) => `pip ${args[0]} failed:\n${tail}`,
  );
}

export async function runLogged(
  argv: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; signal?: AbortSignal; log: string; onSpawn?: (pid: number) => void; onLine?: (line: string) => unknown },
  describe: (tail: string) => string,
): Promise<PipRun> {
  // The command writes to its log file; its new lines are read from there as it goes.
  const onLine = opts.onLine;
  let offset = 0;
  let partial = '';
  const drain = () => {
    if (!onLine) return;
    let fd: number | undefined;
    try {
      fd = openSync(opts.log, 'r');
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) onLine(l);
      }
    } catch {
      // not written yet
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
  const timer = onLine ? setInterval(drain, 250) : undefined;
  const r = await runProcess(argv, { cwd: opts.cwd, env: opts.env, log: opts.log, signal: opts.signal, onSpawn: opts.onSpawn }).finally(() => {
    if (timer) clearInterval(timer);
  });
  drain();
  if (partial !== '') onLine?.(partial);
  if (r.stopped) return err('stopped');
  if (r.spawnError) return err(r.spawnError);
  if (r.code === 0) return ok(undefined);
  const text = await readFile(opts.log, 'utf8').catch(() => '');
  // pip's own error, not its traceback: the ERROR lines, else the last lines.
  const lines = text.trimEnd().split('\n');
  const errors = lines.filter((l) => /^(ERROR|error):|^\s+(Expected|Got) /.test(l));
  const tail = (errors.length > 0 ? errors : lines.slice(-8)).map((l) => `  ${l}`).join('\n');
  return err(describe(tail));
}
