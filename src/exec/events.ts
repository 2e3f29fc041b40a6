// One event stream: the executor emits these; every output format (plain lines, NDJSON, the live
// view) is an observer of it.
import type { NodeKind } from '../graph/nodes.js';

export type FinishStatus = 'ran' | 'cached' | 'fresh' | 'failed' | 'skipped' | 'interrupted';

export type BuildEvent =
  | { event: 'start'; node: string; kind: NodeKind }
  | {
      event: 'finish';
      node: string;
      kind: NodeKind;
      status: FinishStatus;
      ms: number;
      /** Why it ran, was skipped or failed. */
      reason?: string;
      failure?: StepFailure;
    }
  /** Download progress; `rate` in bytes per second since the download started. */
  | { event: 'progress'; node: string; bytes: number; total: number; rate: number }
  | { event: 'warning'; message: string }
  | { event: 'summary'; counts: Record<FinishStatus, number>; ms: number };

export interface StepFailure {
  message: string;
  /** Found before the build started (and reported then): the node never started. */
  preflight?: boolean;
  argv?: string[];
  exitCode?: number | null;
  signal?: string | null;
  log?: string;
  tail?: string[];
}

export type Emit = (e: BuildEvent) => void;
