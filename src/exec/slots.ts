// Executing under the scheduler's grants: a node that must execute asks for its pool's slots, runs
// its work with its own stop signal (so one can be cancelled and the others left alone), and holds
// a numbered lane (the tracks of --profile) until the node has finished.
import type { StepNode } from '../graph/nodes.js';
import type { Emit } from './events.js';
import type { Adoptable, Timed } from './node-run.js';
import type { StepRun } from './running.js';
import type { Scheduler, Task } from './scheduler.js';

/** Told of each execution that starts, so watch's takeover can register it (takeover.ts). */
export type OnExecute = (node: StepNode, task: Task, run: ExecutionStarted) => void;

export interface ExecutionStarted {
  started: number;
  /** Settles when the work has ended. */
  ended: Promise<void>;
  /** A step's key and result, which a later rebuild with the same key may take over. */
  adoptable?: { key: string; result: Promise<StepRun> };
  cancel: () => void;
}

export class Slots {
  /** Drivers waiting for their resources, resolved true on a grant and false when the build stops. */
  private readonly grants = new Map<string, (granted: boolean) => void>();
  private readonly lanes = new Lanes();
  private readonly laneOf = new Map<string, number>();
  /** Stop signals of the nodes executing now. */
  private readonly executing = new Map<string, AbortController>();
  /** Nodes cancelled through the build's handle. */
  private readonly cancelled = new Set<string>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly tasks: ReadonlyMap<string, Task>,
    private readonly emit: Emit,
    private readonly buildStop: AbortSignal,
    private readonly pump: () => void,
    private readonly onExecute?: OnExecute,
  ) {}

  task(id: string): Task {
    const task = this.tasks.get(id);
    if (!task) throw new Error(`internal: no scheduler task for ${id}`);
    return task;
  }

  /** Runs `work` holding the node's slots and its own stop signal; the time is the work's alone. */
  async execute<T>(node: StepNode, work: (signal: AbortSignal) => Promise<T>, adoptable?: Adoptable<T>): Promise<Timed<T> | 'not started'> {
    const slot = await this.acquire(node);
    if (slot === undefined) return 'not started';
    this.laneOf.set(node.id, slot); // held, like the pool's slots, until the node has finished
    const stop = new AbortController();
    this.executing.set(node.id, stop);
    const onBuildStop = () => stop.abort();
    if (this.buildStop.aborted) stop.abort();
    this.buildStop.addEventListener('abort', onBuildStop, { once: true });
    const started = Date.now();
    const timed = work(stop.signal).then((value) => ({ value, ms: Date.now() - started }));
    const cancel = () => {
      this.cancelled.add(node.id);
      stop.abort();
    };
    const ended = timed.then(
      () => undefined,
      () => undefined,
    );
    const adopt = adoptable ? { adoptable: { key: adoptable.key, result: adoptable.result(timed) } } : {};
    this.onExecute?.(node, this.task(node.id), { started, ended, ...adopt, cancel });
    try {
      return await timed;
    } finally {
      this.buildStop.removeEventListener('abort', onBuildStop);
      this.executing.delete(node.id);
    }
  }

  /** Stops one executing node; false if it is not executing. */
  cancel(id: string): boolean {
    const stop = this.executing.get(id);
    if (!stop) return false;
    this.cancelled.add(id);
    stop.abort();
    return true;
  }

  /** True if the node's own stop signal fired (cancelled, or the build stopped). */
  stopped(id: string): boolean {
    return this.cancelled.has(id) || this.buildStop.aborted;
  }

  /** A lane for a step taken over from an earlier rebuild (its slots are held already). */
  adoptLane(id: string): number {
    const lane = this.lanes.take();
    this.laneOf.set(id, lane);
    return lane;
  }

  /** The node has finished: its lane is free again. */
  finished(id: string): void {
    const lane = this.laneOf.get(id);
    if (lane !== undefined) this.lanes.give(lane);
    this.laneOf.delete(id);
  }

  /** Grants what the scheduler can grant now. */
  grantReady(): void {
    for (const task of this.scheduler.grant()) {
      const go = this.grants.get(task.id);
      this.grants.delete(task.id);
      go?.(true);
    }
  }

  /** The scheduler skipped a node that may be waiting for its slots: it will not get them. */
  refuse(id: string): void {
    const waiting = this.grants.get(id);
    this.grants.delete(id);
    waiting?.(false);
  }

  /** True if a node of this build executes in the pool now. */
  busyIn(inPool: (pool: string) => boolean): boolean {
    for (const id of this.executing.keys()) if (inPool(this.task(id).pool)) return true;
    return false;
  }

  /** Waits for the node's pool slots; undefined if the build stopped first (the scheduler reports it skipped). */
  private acquire(node: StepNode): Promise<number | undefined> {
    return new Promise((resolve) => {
      if (!this.scheduler.request(node.id)) {
        resolve(undefined);
        return;
      }
      this.grants.set(node.id, (granted) => {
        if (!granted) {
          resolve(undefined);
          return;
        }
        const slot = this.lanes.take();
        this.emit({ event: 'run', node: node.id, kind: node.kind, slot, pool: this.task(node.id).pool });
        resolve(slot);
      });
      this.pump();
    });
  }
}

/** Numbered lanes for running steps (the tracks of --profile): the lowest free number is taken. */
class Lanes {
  private readonly used = new Set<number>();
  take(): number {
    let n = 1;
    while (this.used.has(n)) n++;
    this.used.add(n);
    return n;
  }
  give(n: number): void {
    this.used.delete(n);
  }
}
