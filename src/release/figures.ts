// Per library, what the runtimes' configs say of it: its effective window (the config it was
// compiled from, then the compile's --overrides), its memory needs, the largest buffer it binds,
// the features it needs and, on phones, the system-lib prefix it was compiled with.
import { readFileSync } from 'node:fs';
import { recipes } from '../recipes/index.js';
import { systemLibPrefix } from '../steps/compile.js';
import type { StepContext } from '../steps/kind.js';
import { memoryOfFacts } from '../toolchain/compile-log.js';
import type { LibraryEntry, WeightsEntry } from './collect.js';
import { memoryFigures, type MemoryFigures, type RuntimeWindow } from './memory.js';

export interface LibraryFigures {
  window: RuntimeWindow;
  memory: MemoryFigures;
  /** The largest parameter array in tensor-cache.json, in bytes (web-llm's buffer_size_required_bytes). */
  largestBufferBytes: number;
  lowResource: boolean;
  requiredFeatures: string[];
  /** For iphone, macabi and android: the prefix its symbols carry (mlc_llm's rule unless the target sets one). */
  systemLibPrefix?: string;
  /** The platform `mlc_llm package` knows it by, for phone libraries. */
  packageDevice?: 'iphone' | 'macabi' | 'android';
}

export const DEFAULT_LOW_RESOURCE_MB = 3072;
const WINDOW_KEYS = ['context_window_size', 'sliding_window_size', 'attention_sink_size', 'prefill_chunk_size'] as const;

export function libraryFigures(lib: LibraryEntry, weights: WeightsEntry, ctx: Pick<StepContext, 'target' | 'graph'>, lowResourceMB: number): LibraryFigures {
  const window: RuntimeWindow = {};
  for (const k of WINDOW_KEYS) {
    const v = lib.target.overrides[k] ?? weights.chat[k];
    if (typeof v === 'number') window[k] = v;
  }
  const modelConfig = { ...(asObject(weights.chat.model_config) ?? {}), ...weights.chat };
  const cache = tensorCache(weights);
  const memory = memoryFigures(memoryOfFacts(lib.facts), window, {
    paramBytes: cache.paramBytes ?? weights.files.filter((f) => /params_shard_\d+\.bin$/.test(f.path)).reduce((a, f) => a + f.size, 0),
    modelConfig,
  });
  const dtype = recipes().quantizations.find((q) => q.name === lib.cell.quant)?.model_dtype;
  const family = lib.target.device.split(':')[0];
  const packageDevice = family === 'iphone' || family === 'macabi' || family === 'android' ? family : undefined;
  return {
    window,
    memory,
    largestBufferBytes: cache.largest,
    lowResource: memory.vram_required_mb <= lowResourceMB,
    requiredFeatures: dtype === 'float16' ? ['shader-f16'] : [],
    ...(packageDevice ? { packageDevice, systemLibPrefix: systemLibPrefix(lib.node, ctx) ?? autoPrefix(weights, lib.cell.quant) } : {}),
  };
}

/** mlc_llm's --system-lib-prefix auto rule for phones: "<model_type>_<quantization>_", "-" made "_". */
function autoPrefix(weights: WeightsEntry, quant: string): string {
  const type = typeof weights.chat.model_type === 'string' ? weights.chat.model_type : stringOr(asObject(weights.chat.model_config)?.model_type, '');
  return `${type}_${quant}_`.replace(/-/g, '_');
}

function tensorCache(weights: WeightsEntry): { paramBytes?: number; largest: number } {
  const file = weights.files.find((f) => f.path.endsWith('/tensor-cache.json'));
  if (!file) return { largest: 0 };
  const cache = JSON.parse(readFileSync(file.from, 'utf8')) as {
    metadata?: { ParamBytes?: number };
    records?: { nbytes?: number; records?: { nbytes?: number }[] }[];
  };
  let largest = 0;
  for (const shard of cache.records ?? []) for (const r of shard.records ?? []) largest = Math.max(largest, r.nbytes ?? 0);
  const pb = cache.metadata?.ParamBytes;
  // Stryker disable next-line ConditionalExpression: a paramBytes of undefined falls back to the shards as its absence does
  return { ...(typeof pb === 'number' ? { paramBytes: pb } : {}), largest };
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: mlc_llm writes model_config as an object or not at all; only a malformed config tells these apart
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
