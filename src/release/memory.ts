// The memory a library needs, for web-llm's vram_required_MB and mlc_llm package's
// estimated_vram_bytes: from what its compile printed, else estimated from the converted weights
// and the model's config (and said so). MB are 2^20 bytes, as mlc_llm prints them.
import type { CompileMemory } from '../toolchain/compile-log.js';

/** The fields of a library's effective config (its mlc-chat-config.json and the compile's --overrides) used here. */
export interface RuntimeWindow {
  context_window_size?: number;
  sliding_window_size?: number;
  attention_sink_size?: number;
  prefill_chunk_size?: number;
}

export interface MemoryFigures {
  params_mb: number;
  temp_buffer_mb: number;
  kv_cache_mb_per_token: number;
  /** Tokens the KV cache holds (see kvTokens). */
  kv_tokens: number;
  vram_required_mb: number;
  /** Which of the three inputs were estimated rather than printed by the compile. */
  estimated: Array<'params' | 'temp_buffer' | 'kv_cache'>;
}

const MB = 1024 * 1024;
const round2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * The KV cache's length: the context window, or for a sliding-window model its window plus the
 * attention sink when that is smaller; values unset or not positive do not count.
 */
export function kvTokens(w: RuntimeWindow): number {
  const positive = (v: number | undefined): number | undefined => (v !== undefined && v > 0 ? v : undefined);
  const ctx = positive(w.context_window_size);
  const sws = positive(w.sliding_window_size);
  const sink = positive(w.attention_sink_size) ?? 0;
  const candidates = [ctx, sws === undefined ? undefined : sws + sink].filter((v): v is number => v !== undefined);
  return candidates.length === 0 ? 0 : Math.min(...candidates);
}

/** What an estimate starts from when the log is silent. */
export interface EstimateInputs {
  /** Bytes of the converted parameters (tensor-cache.json's ParamBytes, else the shards' size). */
  paramBytes: number;
  /** The model's config (mlc-chat-config.json's model_config merged with its top level). */
  modelConfig: Record<string, unknown>;
}

export function memoryFigures(printed: CompileMemory | undefined, window: RuntimeWindow, est: EstimateInputs): MemoryFigures {
  const estimated: MemoryFigures['estimated'] = [];
  const num = (k: string): number | undefined => {
    const v = est.modelConfig[k];
    return typeof v === 'number' && v > 0 ? v : undefined;
  };
  const hidden = num('hidden_size') ?? num('n_embd') ?? num('d_model') ?? 0;
  let params = printed?.paramsMB;
  if (params === undefined) {
    estimated.push('params');
    params = est.paramBytes / MB;
  }
  let temp = printed?.tempBufferMB;
  if (temp === undefined) {
    // A prefill chunk's activations and its fp32 logits: the largest temporaries of a decoder.
    estimated.push('temp_buffer');
    const chunk = window.prefill_chunk_size ?? 0;
    const prefill = chunk > 0 ? chunk : 2048;
    temp = (prefill * (hidden * 4 + (num('vocab_size') ?? 0)) * 4) / MB;
  }
  let kv = printed?.kvCacheMBPerToken;
  if (kv === undefined) {
    // K and V, per layer, per KV head, in float16.
    estimated.push('kv_cache');
    const layers = num('num_hidden_layers') ?? num('n_layer') ?? num('num_layers') ?? 0;
    const heads = num('num_attention_heads') ?? num('n_head') ?? 1;
    const kvHeads = num('num_key_value_heads') ?? heads;
    const headDim = num('head_dim') ?? Math.floor(hidden / heads); // heads ≥ 1; no hidden size, no head dim
    kv = (2 * layers * kvHeads * headDim * 2) / MB;
  }
  const tokens = kvTokens(window);
  return {
    params_mb: round2(params),
    temp_buffer_mb: round2(temp),
    kv_cache_mb_per_token: kv,
    kv_tokens: tokens,
    vram_required_mb: round2(params + temp + kv * tokens),
    estimated,
  };
}

export const bytesOfMB = (mb: number): number => Math.round(mb * MB);
