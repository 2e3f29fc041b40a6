import { describe, expect, it } from 'vitest';
import { LiveView, renderLive } from '../../src/report/live-view.js';

const zero = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };

describe('live view', () => {
  it('shows executing steps with elapsed time, downloads with bytes, rate and ETA, and the counts', () => {
    const running = new Map([
      ['compile:M/q4f16_1/cuda', { kind: 'compile', since: 0, executing: true }],
      ['download:M/weights', { kind: 'download', since: 1000, executing: true, bytes: 500e6, total: 1500e6, rate: 50e6 }],
      ['config:M/q4f16_1/base', { kind: 'config', since: 0, executing: false }],
    ]);
    const lines = renderLive({ running, counts: { ...zero, ran: 3, cached: 1, fresh: 5, failed: 1 }, total: 20 }, 75_000, 120);
    expect(lines).toEqual([
      '  ▸ compile:M/q4f16_1/cuda  1m15s',
      '  ▸ download:M/weights  1m14s  500.0 MB / 1.50 GB · 50.0 MB/s · ETA 20s',
      '[10/20] 3 ran · 1 cached · 5 fresh · 1 failed · 2 running',
    ]);
  });

  it('clips lines to the terminal width', () => {
    const running = new Map([['compile:' + 'x'.repeat(200), { kind: 'compile', since: 0, executing: true }]]);
    for (const l of renderLive({ running, counts: zero, total: 1 }, 0, 40)) expect(l.length).toBeLessThan(40);
  });

  it('redraws its block in place and leaves the plain lines and the summary', () => {
    let out = '';
    let t = 0;
    const view = new LiveView({ write: (s: string) => (out += s), columns: 80 }, 1, () => t);
    view.observe({ event: 'start', node: 'compile:a', kind: 'compile' });
    t = 500;
    view.observe({ event: 'run', node: 'compile:a', kind: 'compile', slot: 1, pool: 'cpu' });
    t = 2500;
    view.observe({ event: 'finish', node: 'compile:a', kind: 'compile', status: 'ran', ms: 2000 });
    view.observe({ event: 'summary', counts: { ...zero, ran: 1 }, kinds: {}, ms: 2000 });
    expect(screen(out)).toEqual(['  ran     compile:a (2.0s)', 'mlc-build: 1 ran in 2.0s']);
    expect(out).toContain('▸ compile:a'); // the block was shown while it ran
  });
});

/** What a terminal shows after `out`: lines, with "up N lines, clear to the end" applied. */
function screen(out: string): string[] {
  const lines: string[] = [];
  // eslint-disable-next-line no-control-regex -- the live view's redraw is ESC [ n A, ESC [ 0 J
  for (const part of out.split(/(\x1b\[\d+A\x1b\[0J)/)) {
    // eslint-disable-next-line no-control-regex -- as above
    const up = /^\x1b\[(\d+)A\x1b\[0J$/.exec(part);
    if (up) lines.splice(lines.length - Number(up[1]));
    else lines.push(...part.split('\n').slice(0, -1));
  }
  return lines;
}
