// Every bad input the manifest can hold: a located message, exit 2, no stack trace.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, run, tempProject } from '../helpers/cli.js';

const HEAD = `version: 1
models:
  A:
    source: hf://org/a
    conv_template: LM
`;
const gemma = readFileSync(join(FIXTURES, 'hf-configs/gemma_2b.json'), 'utf8');

interface Case {
  name: string;
  yaml: string;
  files?: Record<string, string>;
  /** The first stderr line, verbatim. */
  first: string;
  /** More text stderr must contain. */
  also?: string[];
}

const cases: Case[] = [
  {
    name: 'unknown top-level key',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\ncahce: .c\n`,
    first: 'mlc.build.yaml:8:1: unknown top-level key "cahce" (did you mean "cache"?)',
    also: [' 8 | cahce: .c', '   | ^^^^^'],
  },
  {
    name: 'unknown quantization, listing the valid ones, never suggesting one already listed',
    yaml: `${HEAD}quantizations: [q4f16_1, q4f61_1]\ntargets: [cuda]\n`,
    first:
      'mlc.build.yaml:6:26: unknown quantization "q4f61_1" (did you mean "q4f32_1"?); valid: q0f16, q0bf16, q0f32, q3f16_0, q3f16_1, q4f16_0, q4f16_1, q4bf16_0, q4bf16_1, q4f32_1, q4f16_2, q4f16_autoawq, q4f16_ft, e5m2_e5m2_f16, e4m3_e4m3_f16, e4m3_e4m3_f16_max_calibrate, fp8_e4m3fn_bf16_block_scale, fp8_e4m3fn_bf16_block_scale_static_activation',
  },
  {
    name: 'unknown conv template',
    yaml: `version: 1\nmodels:\n  A: { source: hf://org/a, conv_template: redpajama }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:3:43: unknown conv template "redpajama" (did you mean "redpajama_chat"?)',
  },
  {
    name: 'a conv template the CLI accepts but mlc_llm never registered',
    yaml: `version: 1\nmodels:\n  A: { source: hf://org/a, conv_template: llama_default }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:3:43: conv template "llama_default" passes mlc_llm\'s argument check but is not registered, so gen_config fails',
  },
  {
    name: 'unknown target preset',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda, metl]\n`,
    first: 'mlc.build.yaml:7:17: unknown target "metl" (did you mean "metal"?)',
  },
  {
    name: 'unknown preset in a target object',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: phone, preset: iphon }\n`,
    first: 'mlc.build.yaml:8:28: unknown target preset "iphon" (did you mean "iphone"?)',
  },
  {
    name: 'unknown gen_config option',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\nconfig: { context_window: 4096 }\n`,
    first: 'mlc.build.yaml:8:11: unknown gen_config option "context_window" (did you mean "context_window_size"?)',
  },
  {
    name: 'unknown compile override',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: c, device: cuda, ext: so, overrides: { max_batch: 8 } }\n`,
    first: 'mlc.build.yaml:8:52: unknown compile override "max_batch" (did you mean "max_batch_size"?)',
  },
  {
    name: 'unknown compile option on a target',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: c, device: cuda, ext: so, optimize: O3 }\n`,
    first: 'mlc.build.yaml:8:39: unknown key "optimize" in target "c" (did you mean "opt"?)',
  },
  {
    name: 'wrong type: a string for an integer',
    yaml: `${HEAD}    config: { prefill_chunk_size: "2048" }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:6:35: prefill_chunk_size must be a positive integer, got "2048" (a string)',
  },
  {
    name: 'zero size',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\nconfig: { context_window_size: 0 }\n`,
    first: 'mlc.build.yaml:8:32: context_window_size must be a positive integer, got 0',
  },
  {
    name: 'negative size',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\nmatrix:\n  include: [ { target: cuda, config: { sliding_window_size: -1024 } } ]\n`,
    first: 'mlc.build.yaml:9:61: sliding_window_size must be a positive integer, got -1024',
  },
  {
    name: 'a model × quantization mlc_llm does not support (model type from a local config.json)',
    yaml: `version: 1\nmodels:\n  gemma-2b: { source: ./hf/gemma, conv_template: gemma_instruction }\nquantizations: [q4f16_1, q4f16_ft]\ntargets: [cuda]\n`,
    files: { 'hf/gemma/config.json': gemma },
    first:
      'mlc.build.yaml:4:26: model "gemma-2b" (model type gemma) cannot be quantized with q4f16_ft (ft-quant); mlc_llm supports gemma with: q0f16, q0bf16, q0f32, q3f16_0, q3f16_1, q4f16_0, q4f16_1, q4bf16_0, q4bf16_1, q4f32_1, q4f16_2',
  },
  {
    name: 'a model × quantization mlc_llm does not support (model type set in the manifest)',
    yaml: `version: 1\nmodels:\n  spec: { source: hf://o/m, conv_template: LM, model_type: medusa }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first:
      'mlc.build.yaml:4:17: model "spec" (model type medusa) cannot be quantized with q4f16_1 (group-quant); mlc_llm supports medusa with: q0f16, q0bf16, q0f32',
  },
  {
    name: 'AWQ quantization without an AWQ source',
    yaml: `version: 1\nmodels:\n  L: { source: hf://o/l, conv_template: llama-2, model_type: llama }\nquantizations: [q4f16_autoawq]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:4:17: model "L": q4f16_autoawq converts AWQ checkpoints; set source_format: awq on the model',
  },
  {
    name: 'device/extension mismatch: iphone needs .tar',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: phone, device: iphone, ext: so }\n`,
    first: 'mlc.build.yaml:8:41: target "phone": device "iphone" needs a .tar library, not .so',
  },
  {
    name: 'device/extension mismatch: webgpu needs .wasm',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: web, preset: webgpu, ext: so }\n`,
    first: 'mlc.build.yaml:8:39: target "web": device "webgpu" needs a .wasm library, not .so',
  },
  {
    name: 'device/extension mismatch: metal:x86-64 needs .dylib',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: intel, device: "metal:x86-64", ext: so }\n`,
    first: 'mlc.build.yaml:8:49: target "intel": device "metal:x86-64" needs a .dylib library, not .so',
  },
  {
    name: 'device/extension mismatch: android needs .tar',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: droid, device: android, ext: .so }\n`,
    first: 'mlc.build.yaml:8:42: target "droid": device "android" needs a .tar library, not .so',
  },
  {
    name: 'duplicate YAML keys',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\nquantizations: [q0f16]\n`,
    first: 'mlc.build.yaml:8:1: duplicate key "quantizations"',
  },
  {
    name: 'a model id that climbs out of out/',
    yaml: `version: 1\nmodels:\n  ../x: { source: hf://o/x, conv_template: LM }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first:
      'mlc.build.yaml:3:3: model id "../x" is not a safe file name: it becomes part of paths under out/ (use letters, digits, ".", "_", "+", "-"; no "/" and no leading "." or "-")',
  },
  {
    name: 'a target name with a slash',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: a/b, preset: cuda }\n`,
    first:
      'mlc.build.yaml:8:13: target name "a/b" is not a safe file name: it becomes part of paths under out/ (use letters, digits, ".", "_", "+", "-"; no "/" and no leading "." or "-")',
  },
  {
    name: 'a model without a source',
    yaml: `version: 1\nmodels:\n  A:\n    conv_template: LM\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:3:3: model "A" has no source (hf://org/name, git+URL or a local folder)',
  },
  {
    name: 'an empty matrix after exclude',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda, webgpu]\nmatrix:\n  exclude: [ { model: A } ]\n`,
    first: 'mlc.build.yaml:9:3: the matrix is empty: matrix.exclude removes every model × quantization × target',
  },
  {
    name: 'a YAML syntax error',
    yaml: `${HEAD}quantizations: [q4f16_1\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:7:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
  },
  {
    name: 'a local source folder that does not exist',
    yaml: `version: 1\nmodels:\n  A: { source: ./models/nowhere, conv_template: LM }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'source folder {DIR}/models/nowhere does not exist',
  },
  {
    name: 'a local config.json with an unknown model type',
    yaml: `version: 1\nmodels:\n  A: { source: ./m, conv_template: LM }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    files: { 'm/config.json': '{"model_type": "lama"}' },
    first:
      'mlc.build.yaml:3:16: model "A": config.json has model_type "lama", which mlc_llm does not support (did you mean "llama"?); set model_type: to one it does, if the architecture matches',
  },
  {
    name: 'an unknown source scheme',
    yaml: `version: 1\nmodels:\n  A: { source: "s3://bucket/m", conv_template: LM }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`,
    first: 'mlc.build.yaml:3:16: source "s3://bucket/m" has an unknown scheme (use hf://org/name, git+URL or a local folder)',
  },
  {
    name: 'a matrix rule naming an unknown target',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\nmatrix:\n  exclude: [ { target: [cuda, andriod] } ]\n`,
    first: 'mlc.build.yaml:9:31: unknown target "andriod" (did you mean "android"?)',
  },
  {
    name: 'an invalid opt string',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets:\n  - { name: c, preset: cuda, opt: "cutlass_attn=1" }\n`,
    first:
      'mlc.build.yaml:8:35: opt "cutlass_attn=1": unknown knob "cutlass_attn" (did you mean "cutlass"?) (use O0/O1/O2/O3 or knobs flashinfer, cublas_gemm, faster_transformer, cudagraph, cutlass, ipc_allreduce_strategy)',
  },
  {
    name: 'a toolchain command with shell operators',
    yaml: `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\ntoolchain: { mlc_llm: "mlc_llm && rm -rf /" }\n`,
    first:
      'mlc.build.yaml:8:23: toolchain.mlc_llm must be a command such as "mlc_llm" or "python -m mlc_llm", without shell operators; got "mlc_llm && rm -rf /"',
  },
];

describe('bad manifests exit 2 with a located message', () => {
  it.each(cases)('$name', async ({ yaml, files, first, also }) => {
    const dir = await tempProject({ 'mlc.build.yaml': yaml, ...files });
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(first.replace('{DIR}', dir).replace(/^source folder/, `mlc.build.yaml:3:16: source folder`));
    for (const a of also ?? []) expect(r.stderr).toContain(a);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('other usage errors exit 2', () => {
  it('no manifest anywhere up to the project root', async () => {
    const dir = await tempProject({ 'package.json': '{"name":"x"}' });
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`mlc-build: no manifest found in ${dir} or the folders above it`);
  });

  it('--config naming a missing file', async () => {
    const dir = await tempProject({});
    const r = await run(['--config', 'nope.yaml', 'plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mlc-build: manifest ${join(dir, 'nope.yaml')} not found`);
  });

  it('an unknown command or option', async () => {
    const dir = await tempProject({});
    expect((await run(['plna'], { cwd: dir })).code).toBe(2);
    const r = await run(['plan', '--jsn'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--jsn'");
  });

  it('an unknown selector', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': `${HEAD}quantizations: [q4f16_1]\ntargets: [cuda]\n` });
    const r = await run(['plan', 'target=cdua'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mlc-build: target=cdua matches nothing in the matrix (did you mean "cuda"?); the matrix has target cuda');
  });

  it('reports every error at once, in file order', async () => {
    const dir = await tempProject({
      'mlc.build.yaml': `version: 1\nmodels:\n  A: { source: hf://o/a, conv_template: lm }\nquantizations: [q4f16]\ntargets: [cdua]\n`,
    });
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('mlc.build.yaml:'))
        .map((l) => l.split(': ')[0]),
    ).toEqual(['mlc.build.yaml:3:41', 'mlc.build.yaml:4:17', 'mlc.build.yaml:5:11']);
    expect(r.stderr).toContain('3 errors');
  });
});
