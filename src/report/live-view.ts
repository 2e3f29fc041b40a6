// The live view on a terminal: the lines of the plain log scroll above a block that is redrawn in
// place — the steps running now (elapsed time; bytes, rate and ETA for downloads) and the counts.
import type { BuildEvent, FinishStatus } from '../exec/events.js';
import { formatBytes } from '../manifest/units.js';
import { plainLogger } from './build-log.js';

interface Running {
  kind: string;
  since: number;
  /** Executing (it has its slots), not only being decided. */
  executing: boolean;
  bytes?: number;
  total?: number;
  rate?: number;
}

export interface LiveState {
  running: ReadonlyMap<string, Running>;
  counts: Readonly<Record<FinishStatus, number>>;
  total: number;
}

/** Most running steps shown; the rest are counted. */
const SHOWN = 8;

export function renderLive(state: LiveState, now: number, width: number): string[] {
  const lines: string[] = [];
  const executing = [...state.running].filter(([, r]) => r.executing).sort((a, b) => a[1].since - b[1].since);
  for (const [node, r] of executing.slice(0, SHOWN)) {
    let line = `  ▸ ${node}  ${duration(now - r.since)}`;
    if (r.total) {
      const eta = r.rate && r.bytes !== undefined ? ` · ETA ${duration(((r.total - r.bytes) / r.rate) * 1000)}` : '';
      line += `  ${formatBytes(r.bytes ?? 0)} / ${formatBytes(r.total)}${r.rate ? ` · ${formatBytes(r.rate)}/s` : ''}${eta}`;
    }
    lines.push(clip(line, width));
  }
  if (executing.length > SHOWN) lines.push(`  … and ${executing.length - SHOWN} more`);
  const c = state.counts;
  const finished = c.ran + c.cached + c.fresh + c.failed + c.skipped + c.interrupted;
  const parts = [`${c.ran} ran`, `${c.cached} cached`, `${c.fresh} fresh`];
  if (c.failed > 0) parts.push(`${c.failed} failed`);
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  parts.push(`${executing.length} running`);
  lines.push(clip(`[${finished}/${state.total}] ${parts.join(' · ')}`, width));
  return lines;
}

export class LiveView {
  private readonly running = new Map<string, Running>();
  private readonly counts: Record<FinishStatus, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
  private drawn = 0;
  private lastDraw = -Infinity;
  private readonly timer: NodeJS.Timeout;
  private pending = '';
  private readonly plain = plainLogger((s) => {
    this.pending += s;
  });

  constructor(
    private readonly out: { write(s: string): unknown; columns?: number },
    private readonly total: number,
    private readonly now: () => number = Date.now,
  ) {
    // Elapsed times tick even when no event arrives; the timer must not keep the process alive.
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }

  readonly observe = (e: BuildEvent): void => {
    switch (e.event) {
      case 'start':
        this.running.set(e.node, { kind: e.kind, since: this.now(), executing: false });
        break;
      case 'run': {
        const r = this.running.get(e.node);
        this.running.set(e.node, { kind: e.kind, since: this.now(), executing: true, ...(r?.total ? { bytes: r.bytes, total: r.total } : {}) });
        break;
      }
      case 'progress': {
        const r = this.running.get(e.node);
        if (r) Object.assign(r, { bytes: e.bytes, total: e.total, rate: e.rate });
        break;
      }
      case 'finish':
        this.running.delete(e.node);
        this.counts[e.status]++;
        break;
      case 'cancelled':
        this.running.delete(e.node);
        break;
      case 'warning':
      case 'trigger':
        break;
      case 'summary':
        this.stop();
        break;
    }
    this.plain(e);
    // Lines to print go out at once; a changed block at most ten times a second (the timer catches up).
    if (this.pending !== '' || this.now() - this.lastDraw >= 100) this.draw();
  };

  /** Removes the block for good (the summary line stays). */
  stop(): void {
    clearInterval(this.timer);
    this.erase();
    this.flush();
    this.drawn = -1;
  }

  private draw(): void {
    if (this.drawn < 0) {
      this.flush();
      return;
    }
    this.erase();
    this.flush();
    const lines = renderLive({ running: this.running, counts: this.counts, total: this.total }, this.now(), this.out.columns || 100);
    this.out.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
    this.lastDraw = this.now();
  }

  private erase(): void {
    // Up over the block, then clear to the end of the screen.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    if (this.drawn > 0) this.drawn = 0;
  }

  private flush(): void {
    if (this.pending === '') return;
    this.out.write(this.pending);
    this.pending = '';
  }
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function clip(line: string, width: number): string {
  return line.length <= width - 1 ? line : `${line.slice(0, Math.max(10, width - 2))}…`;
}
