// Expected costs for CI fan-out: what every job computes identically from the manifest and the
// models' config.json (never from a machine's recorded durations: two jobs that disagree would drop
// or duplicate cells). A compile costs a base plus a per-device rate × the model's size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildGraph } from '../graph/build.js';
import type { Cell, Manifest } from '../manifest/types.js';
import { ciRecipe } from '../recipes/index.js';

/** Billions of parameters, estimated from a transformer's config (embeddings plus layers). */
export function billionParams(config: Record<string, unknown>): number | undefined {
  const n = (...keys: string[]) => {
    for (const k of keys) {
      const v = config[k];
      if (typeof v === 'number' && v > 0) return v;
    }
    return undefined;
  };
  const hidden = n('hidden_size', 'n_embd', 'd_model');
  const layers = n('num_hidden_layers', 'n_layer', 'num_layers');
  if (hidden === undefined || layers === undefined) return undefined;
  const vocab = n('vocab_size', 'padded_vocab_size') ?? 32000;
  const inter = n('intermediate_size', 'ffn_hidden_size', 'n_inner') ?? 4 * hidden;
  return (layers * (4 * hidden * hidden + 3 * hidden * inter) + 2 * vocab * hidden) / 1e9;
}

export class Costs {
  private readonly sizes = new Map<string, number>();

  /** Sizes from each model's config.json where it is on this machine (a local folder, a fetched snapshot); 1B otherwise. */
  constructor(
    private readonly manifest: Manifest,
    graph: BuildGraph,
  ) {
    for (const m of manifest.models) {
      const dir = graph.snapshotDirs.get(m.id);
      let size: number | undefined;
      try {
        if (dir) size = billionParams(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
      } catch {
        size = undefined;
      }
      this.sizes.set(m.id, size ?? 1);
    }
  }

  /** Whole seconds, so that every machine sums them alike. */
  compile(cell: Cell): number {
    const r = ciRecipe();
    const device = this.manifest.targets.find((t) => t.name === cell.target)?.device ?? '';
    const family = device.split(':')[0] ?? '';
    const rate = r.compile_seconds_per_billion[family] ?? r.compile_seconds_per_billion.default ?? 60;
    return Math.round(r.compile_base_seconds + rate * (this.sizes.get(cell.model) ?? 1));
  }

  convert(model: string): number {
    return Math.round(ciRecipe().convert_seconds_per_billion * (this.sizes.get(model) ?? 1));
  }
}
