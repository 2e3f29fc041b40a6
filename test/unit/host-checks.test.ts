import { describe, expect, it } from 'vitest';
import { presetTarget } from '../../src/manifest/targets.js';
import type { Target } from '../../src/manifest/types.js';
import { convertedBytes, targetChecks, type HostFacts } from '../../src/toolchain/host-checks.js';

const none = { cuda: 0, rocm: 0, vulkan: 0, metal: 0 };
const host = (over: Partial<HostFacts> = {}): HostFacts => ({ platform: 'linux', gpus: none, env: {}, onPath: () => false, exists: () => false, ...over });
const preset = (name: string): Target => presetTarget(name) as Target;
const failing = (t: Target, h: HostFacts) =>
  targetChecks(t, h)
    .filter((c) => !c.ok && !c.advice)
    .map((c) => c.what);

describe('host needs per target', () => {
  it('cuda needs a local NVIDIA GPU; MLC_MULTI_ARCH is advice', () => {
    expect(failing(preset('cuda'), host())).toEqual(['cuda: a local NVIDIA (CUDA) GPU']);
    const withGpu = targetChecks(preset('cuda'), host({ gpus: { ...none, cuda: 2 } }));
    expect(withGpu.filter((c) => !c.ok && !c.advice)).toEqual([]);
    expect(withGpu.find((c) => c.what === 'cuda: MLC_MULTI_ARCH')).toMatchObject({ ok: false, advice: true });
    expect(targetChecks(preset('cuda'), host({ gpus: { ...none, cuda: 1 }, env: { MLC_MULTI_ARCH: '80,86' } })).every((c) => c.ok)).toBe(true);
  });

  it('vulkan without a GPU points at the cross-compiling preset, which needs nothing', () => {
    const c = targetChecks(preset('vulkan'), host()).find((x) => !x.ok);
    expect(c?.detail).toContain('vulkan-generic');
    expect(failing(preset('vulkan-generic'), host())).toEqual([]);
  });

  it('metal and iphone need macOS with Xcode', () => {
    expect(failing(preset('iphone'), host())).toEqual(['iphone: macOS']);
    expect(failing(preset('iphone'), host({ platform: 'darwin' }))).toEqual(['iphone: Xcode command line tools']);
    expect(failing(preset('iphone'), host({ platform: 'darwin', onPath: (c) => c === 'xcrun' }))).toEqual([]);
    expect(failing(preset('metal'), host({ platform: 'darwin', gpus: { ...none, metal: 1 }, onPath: () => true }))).toEqual([]);
  });

  it('webgpu needs emscripten and the web runtime .bc under MLC_LLM_SOURCE_DIR', () => {
    expect(failing(preset('webgpu'), host())).toEqual(['webgpu: emscripten', 'webgpu: the web runtime mlc_wasm_runtime.bc']);
    const ready = host({
      onPath: (c) => c === 'emcc',
      env: { MLC_LLM_SOURCE_DIR: '/src/mlc-llm' },
      exists: (p) => p === '/src/mlc-llm/web/dist/wasm/mlc_wasm_runtime.bc',
    });
    expect(failing(preset('webgpu'), ready)).toEqual([]);
  });

  it('android .tar needs nothing beyond mlc_llm; the .so variant needs the NDK compiler', () => {
    expect(targetChecks(preset('android'), host())).toEqual([
      { what: 'android: host', ok: true, detail: expect.stringContaining('nothing beyond mlc_llm') as unknown },
    ]);
    expect(failing(preset('android-adreno-so'), host())).toEqual(["android-adreno-so: TVM_NDK_CC (the Android NDK's clang)"]);
    expect(failing(preset('android-adreno-so'), host({ env: { TVM_NDK_CC: '/ndk/clang' }, exists: () => true }))).toEqual([]);
  });

  it('estimates converted weights from source bytes, dtype and bits per weight', () => {
    // 7B parameters in bf16 (14 GB) at ~4.5 bits per weight.
    expect(convertedBytes(14e9, 'bfloat16', 4.5)).toBe(3.9375e9);
    expect(convertedBytes(28e9, 'float32', 16)).toBe(14e9);
  });
});
