// Steps that outlive the build that started them. In watch mode a rebuild supersedes the build
// before it, but does not stop its running steps wholesale: each is decided by its key. One whose
// key is unchanged is taken over (with the slots it holds); one whose key changed or whose node
// left the graph is cancelled, or run to its end when the kind's policy says `finish`. The registry
// is what the builds of one watch session share to do that.
import type { PoolName } from '../recipes/index.js';
import type { NodeKind } from '../steps/names.js';
import type { Result } from '../result.js';
import type { ActionRecord } from '../store/store.js';
import type { StepFailure } from './events.js';

/** How a step's run ended, and the time it took. */
export type StepRun = { value: Result<ActionRecord, StepFailure>; ms: number };

export interface RunningStep {
  node: string;
  /** Its kind, whose policy decides it when its key changes (the node may have left the graph). */
  kind: NodeKind;
  /** The step's key; undefined for a download (its key is known once it has fetched). */
  key?: string;
  pool: PoolName;
  slots: number;
  /** The rebuild that started it. */
  generation: number;
  /** When it started (ms since the epoch): a cancel picks the step with the least work done. */
  started: number;
  /** Settles when it has ended (a step's result, on success, recorded in the store). */
  ended: Promise<void>;
  /** A step's run, which a later rebuild with the same key takes over; undefined for a download. */
  result?: Promise<StepRun>;
  /** Stops it: its process group, its staging folder. */
  cancel(): void;
  /** Runs to its end whatever the new key (policy `finish`); no later rebuild takes it over. */
  finishing: boolean;
  /** The rebuild that took it over, if one did. */
  adoptedBy?: number;
  /** A cancel was asked for. */
  cancelling: boolean;
}

export class RunningSteps {
  private readonly byNode = new Map<string, RunningStep>();
  private readonly listeners = new Set<(step: RunningStep) => void>();

  add(step: RunningStep): void {
    this.byNode.set(step.node, step);
    void step.ended.finally(() => {
      if (this.byNode.get(step.node) === step) this.byNode.delete(step.node);
      for (const l of this.listeners) l(step);
    });
  }

  get(node: string): RunningStep | undefined {
    return this.byNode.get(node);
  }

  all(): RunningStep[] {
    return [...this.byNode.values()];
  }

  get size(): number {
    return this.byNode.size;
  }

  /** Called once per step when its run ends; returns the unsubscribe. */
  onEnd(listener: (step: RunningStep) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Settles once nothing runs. */
  async idle(): Promise<void> {
    while (this.byNode.size > 0) await Promise.allSettled([...this.byNode.values()].map((s) => s.ended));
  }
}
