// --profile FILE: the build as a Chrome trace-event file (chrome://tracing, ui.perfetto.dev). One
// track per slot: a step appears on the lane it ran in, from getting its slots to finishing.
// Restores and fresh checks, which take no slot, are instants on a track of their own.
import type { BuildEvent } from '../exec/events.js';
import { writeFileAtomic } from '../store/atomic.js';

interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  s?: 't';
  args?: Record<string, unknown>;
}

const CACHE_TRACK = 0;

export class Profile {
  private readonly events: TraceEvent[] = [];
  private readonly running = new Map<string, { slot: number; ts: number; pool: string }>();
  private readonly lanes = new Set<number>();
  private readonly t0: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.t0 = now();
  }

  /** Microseconds since the profile started. */
  private ts(): number {
    return Math.round((this.now() - this.t0) * 1000);
  }

  readonly observe = (e: BuildEvent): void => {
    switch (e.event) {
      case 'run':
        this.lanes.add(e.slot);
        this.running.set(e.node, { slot: e.slot, ts: this.ts(), pool: e.pool });
        return;
      case 'finish': {
        const run = this.running.get(e.node);
        this.running.delete(e.node);
        if (run) {
          this.events.push({
            name: e.node,
            cat: e.kind,
            ph: 'X',
            pid: 1,
            tid: run.slot,
            ts: run.ts,
            dur: Math.max(1, this.ts() - run.ts),
            args: { status: e.status, pool: run.pool },
          });
        } else if (e.status !== 'skipped') {
          this.events.push({ name: e.node, cat: e.kind, ph: 'i', s: 't', pid: 1, tid: CACHE_TRACK, ts: this.ts(), args: { status: e.status } });
        }
        return;
      }
      case 'start':
      case 'progress':
      case 'warning':
      case 'trigger':
      case 'cancelled':
      case 'summary':
        return;
    }
  };

  /** The whole trace: metadata naming the process and its tracks, then the events. */
  toJson(): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms' } {
    const meta: TraceEvent[] = [
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'mlc-build' } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: CACHE_TRACK, args: { name: 'fresh and cached (no slot)' } },
      ...[...this.lanes].sort((a, b) => a - b).map((slot): TraceEvent => ({ name: 'thread_name', ph: 'M', pid: 1, tid: slot, args: { name: `slot ${slot}` } })),
    ];
    return { traceEvents: [...meta, ...this.events], displayTimeUnit: 'ms' };
  }

  async write(file: string): Promise<void> {
    await writeFileAtomic(file, JSON.stringify(this.toJson()));
  }
}
