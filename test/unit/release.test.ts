import { describe, expect, it } from 'vitest';
import { systemLibPrefixFor } from '../../src/graph/naming.js';
import { parseSource, type SourceSpec } from '../../src/manifest/source-spec.js';
import { memoryFigures, kvTokens } from '../../src/release/memory.js';
import { baseModel } from '../../src/release/model-card.js';
import { hubOrg } from '../../src/release/package-config.js';
import { sha256sums } from '../../src/release/inventory.js';
import { sri } from '../../src/release/web-llm.js';
import { parseCompileMemory } from '../../src/toolchain/compile-log.js';

function source(text: string): SourceSpec {
  const s = parseSource(text, '/project');
  if (typeof s === 'string') throw new Error(s);
  return s;
}

describe('the compile log', () => {
  it('reads the memory lines of mlc_llm compile', () => {
    const log = [
      '[2025-12-10 10:37:56] INFO pipeline.py:57: Compilation complete! Exporting to disk',
      '[2025-12-10 10:38:29] INFO model_metadata.py:94: Total memory usage without KV cache: 3329.54 MB (Parameters: 2640.79 MB. Temporary buffer: 688.75 MB)',
      '[2025-12-10 10:38:29] INFO model_metadata.py:128: KV cache size: 0.38 MB per token in the context window',
      '[2025-12-10 10:38:29] INFO model_metadata.py:133: Total memory usage with a 4K KV cache: 4865.54 MB',
    ].join('\n');
    expect(parseCompileMemory(log)).toEqual({ paramsMB: 2640.79, tempBufferMB: 688.75, kvCacheMBPerToken: 0.38 });
  });

  it('reads older releases (a doubled colon, colour codes, no KV line) and nothing from a log without them', () => {
    const old =
      '[2024-06-06 11:51:58] INFO model_metadata.py:95: \u001b[92mTotal memory usage without KV cache:\u001b[0m: 15628.51 MB (Parameters: 15316.51 MB. Temporary buffer: 312.00 MB)';
    expect(parseCompileMemory(old)).toEqual({ paramsMB: 15316.51, tempBufferMB: 312 });
    expect(parseCompileMemory('INFO compile.py:190: Generated: lib.so')).toBeUndefined();
  });
});

describe('memory figures', () => {
  it('counts the KV cache over the context window, or a smaller sliding window with its sink', () => {
    expect(kvTokens({ context_window_size: 4096 })).toBe(4096);
    expect(kvTokens({ context_window_size: -1, sliding_window_size: 4096, attention_sink_size: 4 })).toBe(4100);
    expect(kvTokens({ context_window_size: 2048, sliding_window_size: 4096 })).toBe(2048);
    expect(kvTokens({ context_window_size: -1, sliding_window_size: -1 })).toBe(0);
  });

  it('adds parameters, the temporary buffer and the KV cache; estimates only what the log lacks', () => {
    const printed = memoryFigures(
      { paramsMB: 1000, tempBufferMB: 100.5, kvCacheMBPerToken: 0.25 },
      { context_window_size: 1024 },
      { paramBytes: 0, modelConfig: {} },
    );
    expect(printed).toMatchObject({ vram_required_mb: 1356.5, kv_tokens: 1024, estimated: [] });
    const partial = memoryFigures(
      { paramsMB: 1000, tempBufferMB: 100 },
      { context_window_size: 1024 },
      { paramBytes: 0, modelConfig: { num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, hidden_size: 256 } },
    );
    // 2 (K, V) × 2 layers × 2 KV heads × 64 dims × 2 bytes, per token.
    expect(partial.kv_cache_mb_per_token).toBe((2 * 2 * 2 * 64 * 2) / 2 ** 20);
    expect(partial.estimated).toEqual(['kv_cache']);
  });
});

describe('release naming', () => {
  it('gives each cell its own system-lib prefix from placeholders, as a C identifier ending in "_"', () => {
    expect(systemLibPrefixFor('{model}_{quant}', { model: 'Llama-3.2-1B', quant: 'q4f16_1', tag: '' })).toBe('Llama_3_2_1B_q4f16_1_');
    expect(systemLibPrefixFor('app_{model}{-tag}_', { model: 'phi', quant: 'q4f16_1', tag: 'ctx768' })).toBe('app_phi_ctx768_');
    expect(systemLibPrefixFor('fixed', { model: 'phi', quant: 'q4f16_1', tag: '' })).toBe('fixed'); // as the user wrote it
  });

  it('finds the hub organisation of --base-url and the base model of a source', () => {
    expect(hubOrg('https://huggingface.co/mlc-ai')).toBe('mlc-ai');
    expect(hubOrg('HF://mlc-ai/')).toBe('mlc-ai');
    expect(hubOrg('https://cdn.example.com/models')).toBeUndefined();
    expect(baseModel(source('hf://Qwen/Qwen2-0.5B@main'))).toBe('Qwen/Qwen2-0.5B');
    expect(baseModel(source('git+https://huggingface.co/meta-llama/Llama-3.2-1B.git#abc'))).toBe('meta-llama/Llama-3.2-1B');
    expect(baseModel(source('git+https://github.com/org/repo'))).toBeUndefined();
    expect(baseModel(source('./models/local'))).toBeUndefined();
  });

  it('writes SHA256SUMS as sha256sum -c reads it, sorted by path; SRI as base64 of the digest', () => {
    const d = 'a'.repeat(64);
    expect(
      sha256sums([
        { path: 'b/x', digest: d },
        { path: 'a', digest: d },
      ]),
    ).toBe(`${d}  a\n${d}  b/x\n`);
    expect(sri('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).toBe('sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });
});
