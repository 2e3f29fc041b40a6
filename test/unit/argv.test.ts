import { describe, expect, it } from 'vitest';
import { compileArgv, convertWeightArgv, genConfigArgv, shellLine } from '../../src/toolchain/argv.js';
import { resolveToolchainCommand } from '../../src/toolchain/command.js';
import { detectModelType } from '../../src/toolchain/model-type.js';

describe('argv per step', () => {
  it('convert_weight passes --model-type and --source-format only when set', () => {
    expect(convertWeightArgv({ source: './dist/models/M/', quant: 'q4f16_1', output: 'dist/M-q4f16_1-MLC' })).toEqual([
      'convert_weight',
      './dist/models/M/',
      '--quantization',
      'q4f16_1',
      '-o',
      'dist/M-q4f16_1-MLC',
    ]);
    expect(convertWeightArgv({ source: 's/', quant: 'q4f16_autoawq', modelType: 'llama', sourceFormat: 'awq', output: 'o' })).toEqual([
      'convert_weight',
      's/',
      '--quantization',
      'q4f16_autoawq',
      '--model-type',
      'llama',
      '--source-format',
      'awq',
      '-o',
      'o',
    ]);
  });

  it('gen_config passes each size option with its mlc_llm flag', () => {
    expect(
      genConfigArgv({
        source: 's/',
        quant: 'q4f16_1',
        convTemplate: 'mistral_default',
        options: {
          prefill_chunk_size: 128,
          sliding_window_size: 1024,
          tensor_parallel_shards: 2,
          max_batch_size: 64,
          attention_sink_size: 4,
          pipeline_parallel_stages: 2,
        },
        output: 'o/',
      }),
    ).toEqual([
      'gen_config',
      's/',
      '--quantization',
      'q4f16_1',
      '--conv-template',
      'mistral_default',
      '--sliding-window-size',
      '1024',
      '--prefill-chunk-size',
      '128',
      '--attention-sink-size',
      '4',
      '--tensor-parallel-shards',
      '2',
      '--pipeline-parallel-stages',
      '2',
      '--max-batch-size',
      '64',
      '-o',
      'o/',
    ]);
  });

  it('gen_config passes --disaggregation only when true (argparse type=bool takes any value as True)', () => {
    const base = { source: 's/', quant: 'q0f16', convTemplate: 'LM', output: 'o/' };
    expect(genConfigArgv({ ...base, options: { disaggregation: true } })).toContain('--disaggregation');
    expect(genConfigArgv({ ...base, options: { disaggregation: false } })).not.toContain('--disaggregation');
  });

  it('compile orders optional flags as the specification does and joins overrides in ModelConfigOverride order', () => {
    expect(
      compileArgv({
        config: './c/mlc-chat-config.json',
        device: 'cuda',
        host: 'x86_64-unknown-linux-gnu',
        opt: 'O3',
        systemLibPrefix: 'llama_q4f16_1_',
        overrides: { max_batch_size: 32, context_window_size: 1024 },
        output: 'dist/libs/x.so',
      }),
    ).toEqual([
      'compile',
      './c/mlc-chat-config.json',
      '--device',
      'cuda',
      '--host',
      'x86_64-unknown-linux-gnu',
      '--opt',
      'O3',
      '--system-lib-prefix',
      'llama_q4f16_1_',
      '-o',
      'dist/libs/x.so',
      '--overrides',
      'context_window_size=1024;max_batch_size=32',
    ]);
  });

  it('shell lines quote only what needs quoting and prefix env', () => {
    expect(shellLine(['mlc_llm', 'compile', '--opt', 'cublas_gemm=1;cudagraph=0', "it's"], { MLC_MULTI_ARCH: '80,86' })).toBe(
      `MLC_MULTI_ARCH=80,86 mlc_llm compile --opt 'cublas_gemm=1;cudagraph=0' 'it'\\''s'`,
    );
  });
});

describe('toolchain command', () => {
  it('defaults to mlc_llm, takes the manifest value, and lets MLC_BUILD_MLC_LLM override both', () => {
    expect(resolveToolchainCommand(undefined, {})).toEqual({ ok: true, value: { argv: ['mlc_llm'], from: 'default' } });
    expect(resolveToolchainCommand('python -m mlc_llm', {})).toEqual({ ok: true, value: { argv: ['python', '-m', 'mlc_llm'], from: 'manifest' } });
    expect(resolveToolchainCommand('python -m mlc_llm', { MLC_BUILD_MLC_LLM: '"/opt/my venv/bin/mlc_llm"' })).toEqual({
      ok: true,
      value: { argv: ['/opt/my venv/bin/mlc_llm'], from: 'env' },
    });
  });

  it('refuses shell operators', () => {
    const r = resolveToolchainCommand('mlc_llm; rm -rf /', {});
    expect(r.ok).toBe(false);
  });
});

describe('model type detection (as mlc_llm does it)', () => {
  it('reads model_type, or model_config.model_type, and maps the one alias', () => {
    expect(detectModelType({ model_type: 'gpt_neox', architectures: ['LlamaForCausalLM'] })).toEqual({ ok: true, value: 'gpt_neox' });
    expect(detectModelType({ model_config: { model_type: 'qwen2' } })).toEqual({ ok: true, value: 'qwen2' });
    expect(detectModelType({ model_type: 'mixformer-sequential' })).toEqual({ ok: true, value: 'phi-msft' });
  });

  it('says what to do when it cannot tell', () => {
    expect(detectModelType({ architectures: ['X'] })).toEqual({
      ok: false,
      error: 'config.json has no "model_type"; set model_type: in the manifest (passed to mlc_llm as --model-type)',
    });
    const r = detectModelType({ model_type: 'lama' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain('did you mean "llama"?');
  });
});
