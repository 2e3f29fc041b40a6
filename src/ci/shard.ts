// `build --shard i/n`: a deterministic, balanced slice of the selected compile cells. Longest
// expected cost first into the lightest shard (ties: cell id, then shard number), so every job
// that computes it from the same manifest gets the same slices, each cell in exactly one.
import type { Cell } from '../manifest/types.js';
import { byText } from '../order.js';
import type { Costs } from './cost.js';

export interface ShardSpec {
  index: number;
  count: number;
}

/** "2/5" → { index: 2, count: 5 } (1-based), or why it is not one. */
export function parseShard(text: string): ShardSpec | string {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) return `--shard must be i/n, e.g. 1/4 (got ${JSON.stringify(text)})`;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) return `--shard ${text}: i must be between 1 and n (1-based)`;
  return { index, count };
}

export function shardCells(cells: readonly Cell[], costs: Costs, count: number): Cell[][] {
  const shards: { cells: Cell[]; cost: number }[] = Array.from({ length: count }, () => ({ cells: [], cost: 0 }));
  const ordered = [...cells].map((c) => ({ c, cost: costs.compile(c) })).sort((a, b) => b.cost - a.cost || byText(a.c.id, b.c.id));
  for (const { c, cost } of ordered) {
    let best = 0;
    for (let i = 1; i < shards.length; i++) if ((shards[i]?.cost ?? 0) < (shards[best]?.cost ?? 0)) best = i;
    const s = shards[best] as { cells: Cell[]; cost: number };
    s.cells.push(c);
    s.cost += cost;
  }
  return shards.map((s) => s.cells);
}
