// doctor through the CLI on this machine (Linux, no GPU, no emscripten): what is missing fails.
import { describe, expect, it } from 'vitest';
import { Project } from '../helpers/project.js';

const MODELS = { r: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const } };
const manifest = (targets: string) => `version: 1
models:
  A: { source: ./hf/r, conv_template: redpajama_chat }
quantizations: [q4f16_1, q0f16]
targets: [${targets}]
`;

describe('doctor', () => {
  it('exit 0 when everything the manifest needs is here: toolchain fingerprint, host needs, disk estimate', async () => {
    const p = await Project.create(manifest('android, vulkan-generic'), MODELS);
    const r = await p.run(['doctor']);
    expect(r.stdout).toMatch(/toolchain\n {2}✓ mlc_llm \(\S+mlc_llm\.mjs\): runs; fingerprint [0-9a-f]{16}/);
    expect(r.stdout).toContain('  ✓ android: host: nothing beyond mlc_llm');
    expect(r.stdout).toMatch(
      /disk\n {2}✓ store \S+\.mlc-build: [\d.]+ [KMGT]B free; this plan writes about [\d.]+ [KM]B of converted weights \(2 conversions to run\)/,
    );
    expect(r.stderr).toContain('this machine has everything the manifest needs');
    expect(r.code).toBe(0);
  });

  it('exit 1 and a line per missing need: a GPU the compile probes, macOS, emscripten', async () => {
    const p = await Project.create(manifest('cuda, iphone, webgpu, android'), MODELS);
    const r = await p.run(['doctor'], { PATH: '/usr/bin:/bin', MLC_LLM_SOURCE_DIR: p.path('nowhere') });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✗ cuda: a local NVIDIA (CUDA) GPU: none found');
    expect(r.stdout).toContain('! cuda: MLC_MULTI_ARCH: unset');
    expect(r.stdout).toContain('✗ iphone: macOS: builds only on macOS; this machine runs Linux');
    expect(r.stdout).toContain('✗ webgpu: emscripten: emcc not on PATH');
    expect(r.stdout).toContain('✗ webgpu: the web runtime mlc_wasm_runtime.bc');
    expect(r.stderr).toContain('4 things the manifest needs are missing');
  });

  it('a toolchain that is not there fails the doctor', async () => {
    const p = await Project.create(manifest('android'), MODELS);
    const r = await p.run(['doctor'], { MLC_BUILD_MLC_LLM: p.path('no-such-mlc_llm') });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ mlc_llm \(\S+no-such-mlc_llm\): /);
  });

  it('a toolchain that is found but cannot run fails the doctor, naming the cause: python3 -m mlc_llm without the module', async () => {
    const p = await Project.create(manifest('android').replace('version: 1', 'version: 1\ntoolchain: { mlc_llm: python3 -m mlc_llm }'), MODELS);
    const r = await p.run(['doctor'], { MLC_BUILD_MLC_LLM: '' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /✗ mlc_llm \(python3 -m mlc_llm\): `python3 -m mlc_llm --help` fails: No module named mlc_llm \(that Python has no mlc_llm\); install it: python -m pip install --pre -U -f https:\/\/mlc\.ai\/wheels/,
    );
    expect(r.stdout).not.toContain('✓ mlc_llm');
  });

  it('after a build, nothing is left to convert', async () => {
    const p = await Project.create(manifest('android'), MODELS);
    expect((await p.run()).code).toBe(0);
    const r = await p.run(['doctor']);
    expect(r.stdout).toContain('this plan writes about 0 B of converted weights (0 conversions to run)');
  });
});
