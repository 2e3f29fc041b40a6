// Runs one step's command in its own process group, output to its log file. The group belongs to
// the step: stopping the step stops everything it started (a compile starts compilers), and when
// the step's own process ends, whatever it left running in its group is killed too.
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all. */
  spawnError?: string;
  /** The step was stopped through its signal before it ended by itself. */
  stopped: boolean;
}

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: string;
  onSpawn?: (pid: number) => void;
  /** Stops the step: SIGTERM to its group, SIGKILL after `graceMs` if it is still there. */
  signal?: AbortSignal;
  /** Kills the step's group at once (a second Ctrl-C). */
  kill?: AbortSignal;
  graceMs?: number;
}

/** How long a stopped step gets to exit after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 10_000;

export async function runProcess(argv: readonly string[], opts: ProcessOptions): Promise<ProcessResult> {
  const log = await open(opts.log, 'w');
  const cleanups: (() => void)[] = [];
  try {
    return await new Promise<ProcessResult>((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', log.fd, log.fd], detached: true });
      const pid = child.pid;
      let stopped = false;
      const group = (signal: NodeJS.Signals) => {
        if (pid === undefined) return;
        try {
          process.kill(-pid, signal);
        } catch {
          // the group is gone
        }
      };
      const onStop = () => {
        stopped = true;
        group('SIGTERM');
        const timer = setTimeout(() => group('SIGKILL'), opts.graceMs ?? STOP_GRACE_MS);
        timer.unref();
        cleanups.push(() => clearTimeout(timer));
      };
      const onKill = () => {
        stopped = true;
        group('SIGKILL');
      };
      for (const [signal, handler] of [
        [opts.signal, onStop],
        [opts.kill, onKill],
      ] as const) {
        if (!signal) continue;
        if (signal.aborted) queueMicrotask(handler);
        signal.addEventListener('abort', handler, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', handler));
      }
      if (pid !== undefined) opts.onSpawn?.(pid);
      child.on('error', (e) => {
        const code = (e as NodeJS.ErrnoException).code;
        resolve({ code: null, signal: null, stopped, spawnError: code === 'ENOENT' ? `${argv[0]}: command not found` : e.message });
      });
      child.on('exit', (code, signal) => {
        // What the step left behind in its group (children that ignored SIGTERM, daemons) goes with it.
        group('SIGKILL');
        resolve({ code, signal, stopped });
      });
    });
  } finally {
    for (const c of cleanups) c();
    await log.close();
  }
}
