// What became of each node of a build: its result, the counts per status and per kind, and the
// `finish` event that reports it. Every node is finished here exactly once.
import type { StepNode } from '../graph/nodes.js';
import type { NodeKind } from '../steps/names.js';
import type { Emit, FinishStatus, KindTotals, OutputFile } from './events.js';
import type { StepFailure } from '../failure.js';

/** What became of one node. */
export interface NodeResult {
  node: string;
  kind: NodeKind;
  status: FinishStatus;
  key?: string;
  /** For nodes that ran or were restored: their outputs, paths relative to out/. */
  outputs?: OutputFile[];
  /** The work's own time: the step's run, the download, the restore (never the wait for a slot). */
  ms: number;
  log?: string;
  reason?: string;
  failure?: StepFailure;
  /** Where a restored result came from. */
  source?: string;
}

export type ResultDetails = Omit<NodeResult, 'node' | 'kind' | 'status' | 'ms'>;

export class Tally {
  readonly counts: Record<FinishStatus, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
  readonly kinds: Partial<Record<NodeKind, KindTotals>> = {};
  readonly results = new Map<string, NodeResult>();

  constructor(private readonly emit: Emit) {}

  finish(node: StepNode, status: FinishStatus, ms: number, details: ResultDetails = {}): void {
    this.counts[status]++;
    const k = (this.kinds[node.kind] ??= { ran: 0, cached: 0, fresh: 0, failed: 0, ms: 0 });
    if (status === 'ran' || status === 'cached' || status === 'fresh' || status === 'failed') k[status]++;
    if (status === 'ran' || status === 'failed') k.ms += ms;
    const result: NodeResult = { node: node.id, kind: node.kind, status, ms, ...details };
    this.results.set(node.id, result);
    this.emit({ event: 'finish', ...result });
  }

  /** The status a node finished with, if it has. */
  statusOf(id: string): FinishStatus | undefined {
    return this.results.get(id)?.status;
  }

  /** Bugs met inside the engine (each reported as an internal error naming its node). */
  get internalErrors(): number {
    let n = 0;
    for (const r of this.results.values()) if (r.failure?.reason === 'internal') n++;
    return n;
  }
}
