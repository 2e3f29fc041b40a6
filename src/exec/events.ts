// One event stream: the executor emits these; every output format (plain lines, NDJSON, the live
// view) is an observer of it.
import type { StepFailure } from '../failure.js';
import type { PoolName } from '../recipes/index.js';
import type { NodeKind } from '../steps/names.js';

export type { StepFailure } from '../failure.js';

export type FinishStatus = 'ran' | 'cached' | 'fresh' | 'failed' | 'skipped' | 'interrupted';

/** Per step kind: how many ran, were restored or already in place, failed, and the time they ran. */
export interface KindTotals {
  ran: number;
  cached: number;
  fresh: number;
  failed: number;
  /** Milliseconds spent executing (steps and downloads), summed over the kind's nodes. */
  ms: number;
}

export type BuildEvent =
  /** A node is being decided (fresh, cached or must run). */
  | { event: 'start'; node: string; kind: NodeKind }
  /** A node got its pool's slots and executes now; `slot` numbers the lane it runs in (from 1). */
  | { event: 'run'; node: string; kind: NodeKind; slot: number; pool: PoolName }
  | {
      event: 'finish';
      node: string;
      kind: NodeKind;
      status: FinishStatus;
      ms: number;
      /** Why it ran, was skipped or failed. */
      reason?: string;
      failure?: StepFailure;
      /** The node's key, when it was known. */
      key?: string;
      /** What it ran or restored: paths relative to out/. */
      outputs?: OutputFile[];
      /** Where a restored result came from (`local`, or another cache). */
      source?: string;
    }
  /** Download progress; `rate` in bytes per second since the download started. */
  | { event: 'progress'; node: string; bytes: number; total: number; rate: number }
  | { event: 'warning'; message: string }
  /** Watch mode: a rebuild starts because these files changed (paths relative to the project). */
  | { event: 'trigger'; files: string[] }
  /** Watch mode: a running step was stopped because its result is no longer wanted. */
  | { event: 'cancelled'; node: string; reason: string }
  | { event: 'summary'; counts: Record<FinishStatus, number>; kinds: Partial<Record<NodeKind, KindTotals>>; ms: number; remote?: RemoteTotals };

export type SummaryEvent = Extract<BuildEvent, { event: 'summary' }>;

/** What the remote cache did in a build: results restored from it, bytes moved, uploads that failed. */
export interface RemoteTotals {
  server: string;
  hits: number;
  fetched_bytes: number;
  uploaded_bytes: number;
  uploads: number;
  upload_failures: number;
}

/** One output of a node: its path relative to out/, digest and size. */
export interface OutputFile {
  path: string;
  digest: string;
  size: number;
}

export type Emit = (e: BuildEvent) => void;
