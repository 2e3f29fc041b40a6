import { describe, expect, it } from 'vitest';
import { pipEnvironment, pipSourceArgs } from '../../src/toolchain/managed/pip.js';
import { pipAdvice, requestFor } from '../../src/toolchain/managed/request.js';
import { pinnedFingerprint } from '../../src/toolchain/managed/environment.js';
import { missingWheels, requirementsText, wheelFileName, wheelSetKey } from '../../src/toolchain/managed/wheels.js';

const NO_GPU = { cuda: 0, rocm: 0, vulkan: 1, metal: 0 };

describe('the managed toolchain request', () => {
  it('nightly picks the cpu wheels without an NVIDIA or AMD GPU, the newest ROCm variant on an AMD host', async () => {
    const cpu = await requestFor({ nightly: true, packages: [], findLinks: [] }, '/p', {}, NO_GPU);
    expect(cpu.ok && cpu.value).toMatchObject({
      packages: ['mlc-llm-nightly-cpu', 'mlc-ai-nightly-cpu'],
      findLinks: ['https://mlc.ai/wheels'],
      variant: 'cpu',
    });
    const amd = await requestFor({ nightly: true, packages: [], findLinks: [] }, '/p', {}, { ...NO_GPU, rocm: 1 });
    expect(amd.ok && amd.value.variant).toBe('rocm62');
  });

  it('counts local find_links as written, so projects in other folders share the lock', async () => {
    const at = (root: string) => requestFor({ nightly: false, packages: ['x'], findLinks: [`${root}/wheels`], indexUrl: false }, root, {}, NO_GPU);
    const [a, b] = await Promise.all([at('/home/a/proj'), at('/ci/work/proj')]);
    expect(a.ok && b.ok && a.value.digest === b.value.digest).toBe(true);
    const other = await requestFor({ nightly: false, packages: ['y'], findLinks: ['/ci/work/proj/wheels'], indexUrl: false }, '/ci/work/proj', {}, NO_GPU);
    expect(other.ok && b.ok && other.value.digest !== b.value.digest).toBe(true);
  });

  it("runs pip without the machine's pip configuration", () => {
    const env = pipEnvironment({
      PATH: '/bin',
      PIP_INDEX_URL: 'https://evil.example/simple',
      PIP_CONSTRAINT: '/c.txt',
      PYTHONPATH: '/x',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    expect(env).toMatchObject({ PATH: '/bin', HTTPS_PROXY: 'http://proxy:3128', PYTHONNOUSERSITE: '1' });
    expect(env.PIP_INDEX_URL).toBeUndefined();
    expect(env.PIP_CONSTRAINT).toBeUndefined();
    expect(env.PYTHONPATH).toBeUndefined();
    expect(env.PIP_CONFIG_FILE).toMatch(/^(\/dev\/null|\\\\\.\\nul)$/);
    expect(pipSourceArgs({ packages: [], findLinks: ['/w'], indexUrl: false, digest: '' })).toEqual(['--pre', '--no-index', '--find-links', '/w']);
    expect(pipSourceArgs({ packages: [], findLinks: [], indexUrl: 'https://m/simple', digest: '' })).toEqual(['--pre', '--index-url', 'https://m/simple']);
  });

  it("turns pip's failures into advice: which URLs it could not reach, which variants exist", () => {
    const req = { packages: ['mlc-llm-nightly-cpu'], findLinks: ['https://mlc.ai/wheels'], digest: '' };
    expect(pipAdvice("WARNING: Retrying ... NewConnectionError('<pip._vendor...>: Failed to establish a new connection')", req)).toContain(
      'pip cannot reach https://mlc.ai/wheels, https://pypi.org/simple',
    );
    expect(pipAdvice('ERROR: No matching distribution found for mlc-llm-nightly-cpu', req)).toMatch(/cu122 \(NVIDIA, CUDA 12\.2\)/);
    expect(pipAdvice('ERROR: something else', req)).toBeUndefined();
  });
});

describe('the pinned wheels', () => {
  const pins = [
    { name: 'mlc-ai-nightly-cpu', version: '0.1.dev5', sha256: 'a'.repeat(64), file: 'mlc_ai_nightly_cpu-0.1.dev5-py3-none-any.whl' },
    { name: 'mlc-llm-nightly-cpu', version: '0.1.dev7', sha256: 'b'.repeat(64) },
  ];

  it('are keyed by name, version and sha256 only: a lock that learns file names re-keys nothing', () => {
    const set = { platform: 'linux_x86_64-cp311', python: '3.11', pins };
    const named = { ...set, pins: pins.map((p) => ({ ...p, file: `${p.name}.whl` })) };
    expect(wheelSetKey(named)).toBe(wheelSetKey(set));
    expect(pinnedFingerprint(set.platform, set.python, named.pins)).toBe(pinnedFingerprint(set.platform, set.python, pins));
    expect(wheelSetKey({ ...set, platform: 'darwin_arm64-cp311' })).not.toBe(wheelSetKey(set));
  });

  it('a wheel rebuilt under the same name and version is another toolchain: another environment, other step keys, another wheel set', () => {
    const set = { platform: 'linux_x86_64-cp311', python: '3.11', pins };
    const rebuilt = pins.map((p, i) => (i === 0 ? { ...p, sha256: 'c'.repeat(64) } : p));
    expect(pinnedFingerprint(set.platform, set.python, rebuilt)).not.toBe(pinnedFingerprint(set.platform, set.python, pins));
    expect(wheelSetKey({ ...set, pins: rebuilt })).not.toBe(wheelSetKey(set));
    const upgraded = pins.map((p, i) => (i === 1 ? { ...p, version: '0.1.dev8' } : p));
    expect(pinnedFingerprint(set.platform, set.python, upgraded)).not.toBe(pinnedFingerprint(set.platform, set.python, pins));
  });

  it("take their file name from pip's report URL", () => {
    expect(wheelFileName('https://x.org/wheels/mlc_llm-0.1%2Bcu122-py3-none-any.whl#sha256=ab')).toBe('mlc_llm-0.1+cu122-py3-none-any.whl');
    expect(wheelFileName('file:///w/a-1-py3-none-any.whl')).toBe('a-1-py3-none-any.whl');
    expect(wheelFileName(undefined)).toBeUndefined();
  });

  it('when missing, are each named with sha256, platform, where they were looked for, and the way out', () => {
    const text = missingWheels({ platform: 'linux_x86_64-cp311', python: '3.11', pins }, pins, new Map([['a'.repeat(64), ['the store (/s): not there']]]));
    expect(text).toContain('no place has 2 pinned wheels of the toolchain for linux_x86_64-cp311:');
    expect(text).toContain(
      `mlc_ai_nightly_cpu-0.1.dev5-py3-none-any.whl  sha256:${'a'.repeat(64)}  (mlc-ai-nightly-cpu 0.1.dev5, linux_x86_64-cp311)\n    the store (/s): not there`,
    );
    expect(text).toContain(`mlc-llm-nightly-cpu 0.1.dev7 (its file name is not in the lock)  sha256:${'b'.repeat(64)}`);
    expect(text).toContain('mlc-build toolchain lock --update');
    expect(requirementsText(pins)).toBe(
      `mlc-ai-nightly-cpu==0.1.dev5 --hash=sha256:${'a'.repeat(64)}\nmlc-llm-nightly-cpu==0.1.dev7 --hash=sha256:${'b'.repeat(64)}\n`,
    );
  });
});
