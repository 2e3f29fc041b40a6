// Runs one step's command in its own process group, output to its log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all. */
  spawnError?: string;
}

/** Children still running, so an interrupt can stop their whole process groups. */
export const running = new Set<ChildProcess>();

export async function runProcess(
  argv: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; log: string; onSpawn?: (pid: number) => void },
): Promise<ProcessResult> {
  const log = await open(opts.log, 'w');
  try {
    return await new Promise<ProcessResult>((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', log.fd, log.fd], detached: true });
      running.add(child);
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
      child.on('error', (e) => {
        running.delete(child);
        const code = (e as NodeJS.ErrnoException).code;
        resolve({ code: null, signal: null, spawnError: code === 'ENOENT' ? `${argv[0]}: command not found` : e.message });
      });
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      });
    });
  } finally {
    await log.close();
  }
}

export function killAll(signal: NodeJS.Signals): void {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}
