// `mlc-build watch --json` as a child process: its NDJSON events as they arrive, and waits on them.
// Waits are bounded only so that a hung test fails with what it saw; no test asserts on a time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { BIN } from './cli.js';
import type { Project } from './project.js';

export interface WatchEvent {
  event: string;
  node?: string;
  status?: string;
  files?: string[];
  reason?: string;
  key?: string;
  counts?: Record<string, number>;
}

export interface Start {
  sub: string;
  args: string[];
  pid: number;
}

const WAIT_MS = 60_000;

export class Watcher {
  readonly events: WatchEvent[] = [];
  stderr = '';
  readonly closed: Promise<number | null>;
  private readonly child: ChildProcess;
  private buffered = '';

  constructor(
    readonly p: Project,
    args: string[] = [],
    env: Record<string, string> = {},
    /** Plain lines on stderr instead of NDJSON events (`until` then reads `stderr`). */
    opts: { json?: boolean } = {},
  ) {
    this.child = spawn(process.execPath, [BIN, 'watch', ...(opts.json === false ? [] : ['--json']), ...args], {
      cwd: p.dir,
      env: { ...process.env, ...p.env, MLC_DOUBLE_STARTS: p.path('starts.log'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdout?.on('data', (d: Buffer) => {
      this.buffered += d.toString();
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.events.push(JSON.parse(line) as WatchEvent);
    });
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get summaries(): WatchEvent[] {
    return this.events.filter((e) => e.event === 'summary');
  }

  get triggers(): WatchEvent[] {
    return this.events.filter((e) => e.event === 'trigger');
  }

  /** Waits until `test` holds (checked as output arrives and every 50 ms). */
  async until(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!(await test())) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`watch ended (${this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}\nstderr:\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\nevents:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for the n-th summary (1-based) and returns the events of that rebuild. */
  async rebuild(n: number): Promise<WatchEvent[]> {
    await this.until(`summary #${n}`, () => this.summaries.length >= n);
    const ends = this.events.flatMap((e, i) => (e.event === 'summary' ? [i] : []));
    return this.events.slice(n === 1 ? 0 : (ends[n - 2] as number) + 1, (ends[n - 1] as number) + 1);
  }

  /** Waits until the double has started a call matching `test`. */
  async started(what: string, test: (s: Start) => boolean): Promise<Start> {
    let found: Start | undefined;
    await this.until(what, async () => {
      found = (await starts(this.p)).find(test);
      return found !== undefined;
    });
    return found as Start;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Ctrl-C, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.closed;
  }
}

/** The calls the double has started, in order (a killed one too). */
export async function starts(p: Project): Promise<Start[]> {
  const text = await readFile(p.path('starts.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Start);
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Step processes (anything running in the project's staging folders). */
export const stepProcesses = (p: Project): string => spawnSync('pgrep', ['-f', p.path('.mlc-build/tmp')], { encoding: 'utf8' }).stdout.trim();

/** The node ids of a rebuild's finish events with this status. */
export const finished = (events: WatchEvent[], status: string): string[] =>
  events
    .filter((e) => e.event === 'finish' && e.status === status)
    .map((e) => e.node as string)
    .sort();
