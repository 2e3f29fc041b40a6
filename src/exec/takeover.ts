// Watch's takeover policy: what a rebuild does with the steps earlier rebuilds still run
// (running.ts keeps them). A step whose key is unchanged is adopted, with the slots it holds; one
// whose key changed, or whose node left the graph, is released: cancelled, or let finish when its
// kind's policy says `finish`. Until they end, earlier steps hold their slots in this build's
// scheduler; when such a step's key waits for a step queued behind its very slot, it is cancelled
// so the build can go on.
import type { NodeKind } from '../steps/names.js';
import type { Emit } from './events.js';
import type { TakeoverPolicy } from './node-run.js';
import type { RunningStep, RunningSteps } from './running.js';
import type { Scheduler, Task } from './scheduler.js';
import type { ExecutionStarted, Slots } from './slots.js';
import type { StepNode } from '../graph/nodes.js';

/** What the rebuilds of one watch session share. */
export interface WatchRebuild {
  running: RunningSteps;
  /** This rebuild's number in the session. */
  generation: number;
  /** What becomes of a running step of an earlier rebuild whose key changed. */
  supersede: (kind: NodeKind) => 'cancel' | 'finish';
  /** Steps that failed with these keys (node → key): reported, not re-run until a key changes. */
  knownFailures: ReadonlyMap<string, string>;
}

export class Takeover implements TakeoverPolicy {
  /** Earlier rebuilds' steps holding slots in this build's scheduler until they end. */
  private readonly held = new Set<RunningStep>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly watch: WatchRebuild,
    private readonly scheduler: Scheduler,
    private readonly slots: Slots,
    private readonly emit: Emit,
    pump: () => void,
  ) {
    this.unsubscribe = watch.running.onEnd((step) => {
      if (!this.held.delete(step)) return;
      scheduler.release(step.pool, step.slots);
      pump();
    });
    for (const step of watch.running.all()) {
      this.held.add(step);
      scheduler.hold(step.pool, step.slots);
    }
  }

  earlierRun(node: string): RunningStep | undefined {
    const step = this.watch.running.get(node);
    return step && step.generation !== this.watch.generation ? step : undefined;
  }

  release(step: RunningStep, reason: string): void {
    if (step.finishing || step.cancelling) return;
    if (this.watch.supersede(step.kind) === 'finish') {
      step.finishing = true;
      return;
    }
    this.cancel(step, reason);
  }

  adopt(step: RunningStep): number {
    step.adoptedBy = this.watch.generation;
    return this.slots.adoptLane(step.node);
  }

  failedBefore(node: string, key: string): boolean {
    return this.watch.knownFailures.get(node) === key;
  }

  /** Earlier steps whose node this build does not build: released. */
  releaseOutside(selected: ReadonlySet<string>): void {
    for (const step of this.held) if (!selected.has(step.node)) this.release(step, 'no longer in the build');
  }

  /** Registers a step this build starts, so a later rebuild can decide it by key. */
  register(node: StepNode, task: Task, run: ExecutionStarted): void {
    this.watch.running.add({
      node: node.id,
      kind: node.kind,
      key: run.adoptable?.key,
      pool: task.pool,
      slots: task.slots,
      generation: this.watch.generation,
      started: run.started,
      ended: run.ended,
      ...(run.adoptable ? { result: run.adoptable.result } : {}),
      cancel: run.cancel,
      finishing: false,
      cancelling: false,
    });
  }

  /**
   * A step that must run waits for a pool whose slots are all held by earlier rebuilds' steps whose
   * keys wait for a step that is queued — maybe the very one waiting for the slot (a compile waiting
   * for its config): cancel one of those rather than wait, one at a time. Any other occupant (a step
   * of this build, one taken over, finishing, being cancelled, or whose inputs are only being
   * decided) ends or is decided by itself.
   */
  freeHeldSlots(tasks: ReadonlyMap<string, Task>): void {
    if (this.held.size === 0) return;
    const queued = new Set(this.scheduler.queued().map((t) => t.id));
    if (queued.size === 0) return;
    const waitsForQueued = (id: string, seen = new Set<string>()): boolean =>
      (tasks.get(id)?.deps ?? []).some((d) => queued.has(d) || (!seen.has(d) && (seen.add(d), waitsForQueued(d, seen))));
    const pending = (s: RunningStep) => s.adoptedBy === undefined && !s.finishing && !s.cancelling && waitsForQueued(s.node);
    for (const pool of this.scheduler.blocked()) {
      const inPool = (p: string) => pool === 'jobs' || p === pool;
      if (this.slots.busyIn(inPool)) continue;
      const occupants = [...this.held].filter((s) => inPool(s.pool));
      if (!occupants.every(pending)) continue;
      // The one that has run the shortest time: the least work lost.
      const victim = occupants.reduce<RunningStep | undefined>((a, b) => (a === undefined || b.started > a.started ? b : a), undefined);
      if (victim) this.cancel(victim, 'its key waits for a step that needed its slot');
    }
  }

  dispose(): void {
    this.unsubscribe();
  }

  private cancel(step: RunningStep, reason: string): void {
    step.cancelling = true;
    step.cancel();
    this.emit({ event: 'cancelled', node: step.node, reason });
  }
}
