// How long each step took when it last ran, so the scheduler can put the longest chains first.
// Kept in the store beside the action records (a shared store shares what it learnt).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';

interface DurationsFile {
  version: 1;
  /** Node id → milliseconds, smoothed over runs. */
  nodes: Record<string, number>;
}

export class Durations {
  private changed = false;
  private constructor(
    private readonly file: string,
    private readonly data: DurationsFile,
  ) {}

  static load(storeRoot: string): Durations {
    const file = join(storeRoot, 'durations.json');
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<DurationsFile> | null;
      if (data?.version === 1 && typeof data.nodes === 'object') return new Durations(file, { version: 1, nodes: data.nodes });
    } catch {
      // nothing learnt yet
    }
    return new Durations(file, { version: 1, nodes: {} });
  }

  /** What the node took last time; else the median of its kind's (ids start with the kind); else `fallback`. */
  expected(id: string, fallback: number): number {
    const known = this.data.nodes[id];
    if (known !== undefined) return known;
    return this.medianOfKind(id.slice(0, id.indexOf(':') + 1)) ?? fallback;
  }

  learn(id: string, ms: number): void {
    const before = this.data.nodes[id];
    // Half the old, half the new: one slow run (a busy machine) does not undo what was learnt.
    this.data.nodes[id] = Math.round(before === undefined ? ms : (before + ms) / 2);
    this.changed = true;
    this.medians.clear();
  }

  async save(): Promise<void> {
    if (this.changed) await writeFileAtomic(this.file, JSON.stringify(this.data));
    this.changed = false;
  }

  private readonly medians = new Map<string, number | undefined>();
  private medianOfKind(prefix: string): number | undefined {
    if (this.medians.has(prefix)) return this.medians.get(prefix);
    const values = Object.entries(this.data.nodes)
      .filter(([id]) => id.startsWith(prefix))
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
    const median = values.length === 0 ? undefined : (values[Math.floor(values.length / 2)] as number);
    this.medians.set(prefix, median);
    return median;
  }
}
