import { describe, expect, it } from 'vitest';
import { systemLibPrefixFor } from '../../src/graph/naming.js';
import { parseSource, type SourceSpec } from '../../src/manifest/source-spec.js';
import { memoryFigures, kvTokens } from '../../src/release/memory.js';
import { baseModel } from '../../src/release/model-card.js';
import { hubOrg } from '../../src/release/package-config.js';
import { sha256sums, toolchainFacts } from '../../src/release/inventory.js';
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

  it('estimates each figure the log lacks from the model config, whichever family spells it', () => {
    const MB = 2 ** 20;
    const round2 = (x: number) => Math.round(x * 100) / 100;
    const estimate = (modelConfig: Record<string, unknown>, window: Parameters<typeof memoryFigures>[1] = { context_window_size: 100 }) =>
      memoryFigures(undefined, window, { paramBytes: 3 * MB, modelConfig });
    // Llama's names: 2 layers, 4 heads, 2 KV heads, hidden 256 (head dim 64), a 1000-token vocabulary, a 64-token prefill chunk.
    const llama = estimate(
      { num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, hidden_size: 256, vocab_size: 1000 },
      { context_window_size: 100, prefill_chunk_size: 64 },
    );
    const temp = (64 * (256 * 4 + 1000) * 4) / MB;
    const kv = (2 * 2 * 2 * 64 * 2) / MB;
    expect(llama).toEqual({
      params_mb: 3,
      temp_buffer_mb: round2(temp),
      kv_cache_mb_per_token: kv,
      kv_tokens: 100,
      vram_required_mb: round2(3 + temp + kv * 100),
      estimated: ['params', 'temp_buffer', 'kv_cache'],
    });
    // GPT-2's names (n_layer, n_head, n_embd), here with grouped KV heads; no prefill chunk: 2048 tokens.
    const gpt2 = estimate({ n_layer: 2, n_head: 4, num_key_value_heads: 2, n_embd: 256, vocab_size: 1000 });
    expect([gpt2.kv_cache_mb_per_token, gpt2.temp_buffer_mb]).toEqual([(2 * 2 * 2 * 64 * 2) / MB, round2((2048 * (256 * 4 + 1000) * 4) / MB)]);
    // MPT's names (num_layers, d_model), and a head_dim of its own over hidden / heads.
    const mpt = estimate({ num_layers: 2, num_attention_heads: 4, d_model: 256, head_dim: 128 });
    expect([mpt.kv_cache_mb_per_token, mpt.temp_buffer_mb]).toEqual([(2 * 2 * 4 * 128 * 2) / MB, round2((2048 * 256 * 4 * 4) / MB)]);
    // 0 and -1 mean unset: KV heads are then the heads, head_dim hidden / heads, the prefill chunk 2048.
    const unset = estimate(
      { num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: -1, hidden_size: 256, head_dim: 0 },
      { context_window_size: 100, prefill_chunk_size: -1 },
    );
    expect([unset.kv_cache_mb_per_token, unset.temp_buffer_mb]).toEqual([(2 * 2 * 4 * 64 * 2) / MB, round2((2048 * 256 * 4 * 4) / MB)]);
    expect(estimate({ hidden_size: 256 }, { prefill_chunk_size: 0 }).temp_buffer_mb).toBe(round2((2048 * 256 * 4 * 4) / MB));
    expect(kvTokens({ context_window_size: 0, sliding_window_size: 512 })).toBe(512);
  });
});

describe('the toolchain in release.json', () => {
  it("lists the versions of mlc_llm's and TVM's distributions (with the commit of a source install), sorted, never a path", () => {
    const facts = toolchainFacts({
      digest: 'd'.repeat(64),
      folders: ['/home/me/venv/lib'],
      facts: {
        python: '3.11',
        exe: '/home/me/venv/bin/python',
        mlc_llm: { path: '/home/me/venv/lib/mlc_llm', dists: { 'mlc-llm-nightly-cpu': { version: '0.1.dev7', commit: null } } },
        tvm: { path: '/home/me/venv/lib/tvm', dists: { 'mlc-ai-nightly-cpu': { version: '0.1.dev5', commit: 'abc123' } } },
      },
    });
    expect(facts).toEqual({
      fingerprint: 'd'.repeat(64),
      python: '3.11',
      packages: { 'mlc-ai-nightly-cpu': '0.1.dev5 (abc123)', 'mlc-llm-nightly-cpu': '0.1.dev7' },
    });
    expect(Object.keys(facts.packages)).toEqual(['mlc-ai-nightly-cpu', 'mlc-llm-nightly-cpu']);
    // A toolchain with no Python behind it: its fingerprint alone.
    expect(toolchainFacts({ digest: 'e'.repeat(64), folders: [], facts: { executable: '/usr/bin/mlc_llm' } })).toEqual({
      fingerprint: 'e'.repeat(64),
      packages: {},
    });
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
    expect(hubOrg(' http://www.huggingface.co/mlc-ai ')).toBe('mlc-ai');
    expect(hubOrg('https://huggingface.co/mlc-ai/some-model')).toBeUndefined(); // a repository, not an organisation
    expect(hubOrg('https://mirror.example.com/https://huggingface.co/mlc-ai')).toBeUndefined();
    expect(baseModel(source('hf://Qwen/Qwen2-0.5B@main'))).toBe('Qwen/Qwen2-0.5B');
    expect(baseModel(source('git+https://huggingface.co/meta-llama/Llama-3.2-1B.git#abc'))).toBe('meta-llama/Llama-3.2-1B');
    expect(baseModel(source('git+https://github.com/org/repo'))).toBeUndefined();
    expect(baseModel(source('git+http://huggingface.co/Qwen/Qwen2-0.5B'))).toBe('Qwen/Qwen2-0.5B');
    expect(baseModel(source('git+https://huggingface.co/Qwen/Qwen2-0.5B/tree/main'))).toBeUndefined();
    expect(baseModel(source('git+https://example.com/https://huggingface.co/Qwen/Qwen2-0.5B'))).toBeUndefined();
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
