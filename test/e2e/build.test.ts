// Incremental builds end to end: the real CLI, the mlc_llm double, temp folders. Assertions are on
// the double's call log (what ran) and on the files users get.
import { createHash } from 'node:crypto';
import { appendFile, copyFile, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/cli.js';
import { count, DOUBLE, Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  RedPajama-3B: { source: ./hf/redpajama, conv_template: redpajama_chat }
  Llama-2-7b: { source: ./hf/llama, conv_template: llama-2 }
quantizations: [q4f16_1, q0f16]
targets: [cuda, android, webgpu]
`;
const MODELS = { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const }, llama: { preset: 'llama2_7b', weights: 'bin' as const } };
const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listTree(join(dir, e.name), `${prefix}${e.name}/`)));
    else out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

describe('incremental builds', () => {
  let p: Project;
  let first: Awaited<ReturnType<Project['run']>>;
  let firstFiles: Record<string, string>;

  beforeAll(async () => {
    p = await Project.create(MANIFEST, MODELS);
    first = await p.run();
    firstFiles = {};
    for (const f of await listTree(p.path('dist'))) firstFiles[f] = await sha(p.path('dist', f));
  });

  it('first build: each model × quantization converted once, every artifact in the seed layout', () => {
    expect(first.stderr).toContain('mlc-build: ');
    expect(first.code).toBe(0);
    expect(count(first.calls, 'convert_weight')).toBe(4);
    expect(count(first.calls, 'gen_config')).toBe(8); // base + ctx768 (android) per model × quantization
    expect(count(first.calls, 'compile')).toBe(12);
    const files = Object.keys(firstFiles);
    expect(files.filter((f) => f.startsWith('libs/'))).toEqual([
      'libs/Llama-2-7b-q0f16-android.tar',
      'libs/Llama-2-7b-q0f16-cuda.so',
      'libs/Llama-2-7b-q0f16-webgpu.wasm',
      'libs/Llama-2-7b-q4f16_1-android.tar',
      'libs/Llama-2-7b-q4f16_1-cuda.so',
      'libs/Llama-2-7b-q4f16_1-webgpu.wasm',
      'libs/RedPajama-3B-q0f16-android.tar',
      'libs/RedPajama-3B-q0f16-cuda.so',
      'libs/RedPajama-3B-q0f16-webgpu.wasm',
      'libs/RedPajama-3B-q4f16_1-android.tar',
      'libs/RedPajama-3B-q4f16_1-cuda.so',
      'libs/RedPajama-3B-q4f16_1-webgpu.wasm',
    ]);
    for (const folder of ['RedPajama-3B-q4f16_1-MLC', 'RedPajama-3B-q4f16_1-ctx768-MLC']) {
      expect(files).toContain(`${folder}/mlc-chat-config.json`);
      expect(files).toContain(`${folder}/tensor-cache.json`);
      expect(files).toContain(`${folder}/params_shard_0.bin`);
      expect(files).toContain(`${folder}/tokenizer.json`);
    }
  });

  it('variant folders link to the one converted copy of the weights', async () => {
    const base = await stat(p.path('dist/Llama-2-7b-q0f16-MLC/params_shard_0.bin'));
    const variant = await stat(p.path('dist/Llama-2-7b-q0f16-ctx768-MLC/params_shard_0.bin'));
    expect(variant.ino).toBe(base.ino);
    const config = JSON.parse(await readFile(p.path('dist/Llama-2-7b-q0f16-ctx768-MLC/mlc-chat-config.json'), 'utf8')) as { context_window_size: number };
    expect(config.context_window_size).toBe(768);
  });

  it("never writes into the user's model folder (convert_weight writes an index next to a lone model.safetensors)", async () => {
    expect((await readdir(p.path('hf/redpajama'))).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
  });

  it('second build: no mlc_llm call, exit 0', async () => {
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toMatch(/nothing to do \(\d+ fresh\)/);
  });

  it('deleting files in out/ restores them from the store without a call', async () => {
    await rm(p.path('dist/libs/RedPajama-3B-q4f16_1-cuda.so'));
    await rm(p.path('dist/Llama-2-7b-q0f16-ctx768-MLC/params_shard_0.bin'));
    await rm(p.path('dist/Llama-2-7b-q0f16-MLC/mlc-chat-config.json'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toContain('cached  compile:RedPajama-3B/q4f16_1/cuda');
    for (const f of ['libs/RedPajama-3B-q4f16_1-cuda.so', 'Llama-2-7b-q0f16-ctx768-MLC/params_shard_0.bin', 'Llama-2-7b-q0f16-MLC/mlc-chat-config.json']) {
      expect(await sha(p.path('dist', f))).toBe(firstFiles[f]);
    }
  });

  it('a byte flipped in a stored blob is detected and the step re-runs', async () => {
    const lib = p.path('dist/libs/Llama-2-7b-q4f16_1-android.tar');
    const digest = firstFiles['libs/Llama-2-7b-q4f16_1-android.tar'] as string;
    const blob = p.path('.mlc-build/cas', digest.slice(0, 2), digest);
    await chmod(blob, 0o644);
    const bytes = await readFile(blob);
    bytes[100] = (bytes[100] as number) ^ 0xff;
    await writeFile(blob, bytes);
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => `${c.sub} ${c.args[c.args.indexOf('--device') + 1]}`)).toEqual(['compile android']);
    expect(await sha(lib)).toBe(digest);
    expect(await sha(blob)).toBe(digest);
  });

  it('changing a conv template re-runs only that model’s gen_config (early cutoff: no library rebuilt)', async () => {
    await p.editManifest((y) => y.replace('conv_template: redpajama_chat', 'conv_template: LM'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.sub)).toEqual(['gen_config', 'gen_config', 'gen_config', 'gen_config']);
    expect(r.calls.every((c) => c.args.includes('LM'))).toBe(true);
    const config = JSON.parse(await readFile(p.path('dist/RedPajama-3B-q4f16_1-MLC/mlc-chat-config.json'), 'utf8')) as { conv_template: { name: string } };
    expect(config.conv_template.name).toBe('LM');
  });

  it('adding a target runs only its compiles', async () => {
    await p.editManifest((y) => y.replace('targets: [cuda, android, webgpu]', 'targets: [cuda, android, webgpu, vulkan]'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => `${c.sub} ${c.args[c.args.indexOf('--device') + 1]}`)).toEqual(Array(4).fill('compile vulkan'));
  });

  it('adding a quantization runs only the new converts, configs and compiles', async () => {
    await p.editManifest((y) => y.replace('quantizations: [q4f16_1, q0f16]', 'quantizations: [q4f16_1, q0f16, q3f16_1]'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(count(r.calls, 'convert_weight')).toBe(2);
    expect(count(r.calls, 'gen_config')).toBe(4);
    expect(count(r.calls, 'compile')).toBe(8);
    expect(r.calls.every((c) => c.args.includes('q3f16_1') || c.sub === 'compile')).toBe(true);
    expect(await stat(p.path('dist/libs/Llama-2-7b-q3f16_1-vulkan.so'))).toBeTruthy();
  });

  it('changing one weight file re-runs only that model’s converts', async () => {
    await appendFile(p.path('hf/llama/pytorch_model-00002-of-00002.bin'), Buffer.from('more weights'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => `${c.sub} ${c.args[0]?.includes('convert_Llama') ? 'llama' : '?'}`)).toEqual(Array(3).fill('convert_weight llama'));
  });

  it('explain names the field that changed', async () => {
    await p.editManifest((y) => y.replace('conv_template: llama-2', 'conv_template: llama-3'));
    const r = await p.run(['explain', 'config:Llama-2-7b/q4f16_1/base']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('changed since the last build:');
    expect(r.stdout).toContain('conv_template: "llama-2" → "llama-3"');
    expect(r.calls).toEqual([]);
    await p.editManifest((y) => y.replace('conv_template: llama-3', 'conv_template: llama-2'));
  });

  it('status says what is fresh and what is not', async () => {
    await rm(p.path('dist/libs/RedPajama-3B-q0f16-webgpu.wasm'));
    const r = await p.run(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cached\s+dist\/libs\/RedPajama-3B-q0f16-webgpu\.wasm\s+compile:RedPajama-3B\/q0f16\/webgpu: in the store; will be restored$/m);
    expect(r.stdout).toMatch(/^fresh\s+dist\/libs\/Llama-2-7b-q4f16_1-cuda\.so$/m);
    expect(r.calls).toEqual([]);
  });

  it('removing a target removes its libraries from out/, and keeps files mlc-build did not place', async () => {
    await writeFile(p.path('dist/libs/README.txt'), 'mine');
    await p.editManifest((y) => y.replace('targets: [cuda, android, webgpu, vulkan]', 'targets: [cuda, android, webgpu]'));
    const r = await p.run();
    expect(r.code).toBe(0);
    const libs = await readdir(p.path('dist/libs'));
    expect(libs.filter((l) => l.includes('vulkan'))).toEqual([]);
    expect(libs).toContain('README.txt');
  });

  it('--json prints NDJSON events and a summary', async () => {
    const r = await p.run(['build', '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; status?: string; node?: string; counts?: Record<string, number> });
    expect(events.at(-1)?.event).toBe('summary');
    const finishes = events.filter((e) => e.event === 'finish');
    expect(finishes.length).toBeGreaterThan(0);
    expect(finishes.every((e) => typeof e.node === 'string' && ['ran', 'cached', 'fresh'].includes(e.status as string))).toBe(true);
    expect(events.filter((e) => e.event === 'start')).toHaveLength(finishes.length);
  });

  it('changing the toolchain re-runs everything', async () => {
    const copy = p.path('mlc_llm_v2.mjs');
    await copyFile(DOUBLE, copy);
    await appendFile(copy, '\n// version 2\n');
    await chmod(copy, 0o755);
    // The double reads the project's recipes relative to itself: keep it beside the original.
    const beside = join(DOUBLE, '..', `mlc_llm_v2_${process.pid}.mjs`);
    await copyFile(copy, beside);
    await chmod(beside, 0o755);
    try {
      const r = await p.run([], { MLC_BUILD_MLC_LLM: beside });
      expect(r.code).toBe(0);
      expect(count(r.calls, 'convert_weight')).toBe(6);
      expect(count(r.calls, 'gen_config')).toBe(12);
      expect(count(r.calls, 'compile')).toBe(18);
    } finally {
      await rm(beside, { force: true });
    }
  });
});

describe('sharing and failures', () => {
  it('two models whose configs agree on everything compile reads share one library', async () => {
    const p = await Project.create(
      `version: 1
models:
  Chat: { source: ./hf/redpajama, conv_template: redpajama_chat }
  Base: { source: ./hf/redpajama, conv_template: LM }
quantizations: [q4f16_1]
targets: [cuda]
`,
      { redpajama: MODELS.redpajama },
    );
    const r = await p.run(['-j', '1']);
    expect(r.code).toBe(0);
    expect(count(r.calls, 'compile')).toBe(1);
    // Whichever compiles first, the other restores its result.
    expect(r.stderr).toMatch(/cached\s+compile:(Base|Chat)\/q4f16_1\/cuda/);
    expect(r.stderr).toMatch(/ran\s+compile:(Base|Chat)\/q4f16_1\/cuda/);
    expect(await sha(p.path('dist/libs/Chat-q4f16_1-cuda.so'))).toBe(await sha(p.path('dist/libs/Base-q4f16_1-cuda.so')));
  });

  it('a failing step: exit 1, its log shown, nothing recorded for it, independent outputs kept', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run()).code).toBe(0);
    // A new web runtime makes every webgpu library stale; one of them fails.
    await writeFile(p.path('mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode v2');
    const r = await p.run(['-k'], { MLC_DOUBLE_FAIL: 'compile .*RedPajama.*q4f16_1.*webgpu' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED  compile:RedPajama-3B/q4f16_1/webgpu: exited with code 1');
    expect(r.stderr).toMatch(
      / {2}\$ mkdir -p dist\/libs && \S*mlc_llm\.mjs compile \S+mlc-chat-config\.json --device webgpu -o \S+RedPajama-3B-q4f16_1-webgpu\.wasm/,
    );
    expect(r.stderr).toMatch(/ {2}log: \S+\.mlc-build\/logs\/compile_RedPajama-3B_q4f16_1_webgpu\.log/);
    expect(r.stderr).toContain('  | RuntimeError: injected failure for compile');
    expect(count(r.calls, 'compile')).toBe(4);
    // Independent outputs are there; the failed one was not recorded, so it runs again (alone).
    expect(await stat(p.path('dist/libs/Llama-2-7b-q4f16_1-webgpu.wasm'))).toBeTruthy();
    const again = await p.run();
    expect(again.code).toBe(0);
    expect(
      again.calls.map(
        (c) =>
          `${c.sub} ${c.args
            .find((a) => a.endsWith('.wasm'))
            ?.split('/')
            .pop()}`,
      ),
    ).toEqual(['compile RedPajama-3B-q4f16_1-webgpu.wasm']);
  });

  it('fail-fast by default: after a failure nothing new starts', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['-j', '1'], { MLC_DOUBLE_FAIL: '^gen_config' });
    expect(r.code).toBe(1);
    expect(count(r.calls, 'gen_config')).toBe(1);
    expect(count(r.calls, 'compile')).toBe(0);
    expect(r.stderr).toMatch(/skipped/);
  });

  it("a compile mlc_llm refuses (webgpu without its runtime) fails with mlc_llm's message", async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [webgpu]'), MODELS);
    const r = await p.run([], { MLC_LLM_SOURCE_DIR: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RuntimeError: Cannot find library: mlc_wasm_runtime.bc');
  });

  it('a step that exits 0 without writing its outputs fails and records nothing', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    const liar = p.path('liar.sh');
    await writeFile(liar, '#!/bin/sh\nexit 0\n');
    await chmod(liar, 0o755);
    const r = await p.run(['step=convert', '-k'], { MLC_BUILD_MLC_LLM: liar });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED  convert:RedPajama-3B/q4f16_1: convert_weight wrote no valid tensor-cache.json (missing)');
    const plan = await p.run(['plan', '--json', 'step=convert'], { MLC_BUILD_MLC_LLM: liar });
    const states = (JSON.parse(plan.stdout) as { nodes: { kind: string; state: string }[] }).nodes.filter((n) => n.kind === 'convert').map((n) => n.state);
    expect(states).toEqual(['missing', 'missing', 'missing', 'missing']);
  });
});

describe('what the machine cannot do', () => {
  it('explains what is missing before it starts; with -k builds what it can; exits 1', async () => {
    const p = await Project.create(
      `version: 1
models:
  Local: { source: ./hf/redpajama, conv_template: redpajama_chat }
  Remote: { source: "git+https://example.invalid/org/m", conv_template: LM }
quantizations: [q4f16_1]
targets: [cuda]
`,
      { redpajama: MODELS.redpajama },
    );
    const noToolchain = await p.run([], { MLC_BUILD_MLC_LLM: '/nonexistent/mlc_llm' });
    expect(noToolchain.code).toBe(1);
    expect(noToolchain.stderr).toContain('mlc-build: some steps cannot run on this machine:');
    expect(noToolchain.stderr).toContain(
      '  - /nonexistent/mlc_llm not found: install it: python -m pip install --pre -U -f https://mlc.ai/wheels mlc-llm-nightly-cpu mlc-ai-nightly-cpu',
    );
    expect(noToolchain.stderr.match(/not found: install it/g)).toHaveLength(1); // said once
    expect(noToolchain.stderr).toMatch(/FAILED {2}download:Remote\/meta: resolving https:\/\/example\.invalid\/org\/m#HEAD: git ls-remote: /);
    // With the toolchain and --keep-going, the local model builds; the unreachable one still fails.
    const r = await p.run(['-k']);
    expect(r.code).toBe(1);
    expect(await stat(p.path('dist/libs/Local-q4f16_1-cuda.so'))).toBeTruthy();
    expect(r.stderr).not.toContain('not found');
  });
});

describe('clean', () => {
  it('removes what mlc-build placed in out/, keeps what it did not place or someone changed, and --cache drops the store', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run()).code).toBe(0);
    await writeFile(p.path('dist/notes.txt'), 'mine');
    const edited = p.path('dist/Llama-2-7b-q4f16_1-MLC/mlc-chat-config.json');
    const text = await readFile(edited, 'utf8');
    await rm(edited); // replace, not edit in place: the placed file is a link into the store
    await writeFile(edited, text.replace('"LM"', '"LM-edited"') + '\n');
    const r = await p.run(['clean']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/removed \d+ files from dist, kept 1 changed since they were placed/);
    expect(await listTree(p.path('dist'))).toEqual(['Llama-2-7b-q4f16_1-MLC/mlc-chat-config.json', 'notes.txt']);
    expect(await stat(p.path('.mlc-build/cas'))).toBeTruthy();
    // Everything comes back from the store, without a call.
    await rm(edited);
    const again = await p.run();
    expect(again.calls).toEqual([]);
    expect((await p.run(['clean', '--cache'])).code).toBe(0);
    await expect(stat(p.path('.mlc-build'))).rejects.toThrow();
  });
});

describe('the no-op stamp (a plain build answered from stats)', () => {
  const stampDir = (p: Project) => p.path('.xdg-cache/mlc-build/noop');
  const webgpuAndCuda = MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda, webgpu]');

  it('is written by a successful plain build and answers the next one', async () => {
    const p = await Project.create(webgpuAndCuda, MODELS);
    expect((await p.run()).code).toBe(0);
    expect(await readdir(stampDir(p))).toHaveLength(1);
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toMatch(/^mlc-build: nothing to do \(\d+ fresh\) in \d+ms\n$/);
  });

  it('does not hide any change a build reads', async () => {
    const p = await Project.create(webgpuAndCuda, MODELS);
    expect((await p.run()).code).toBe(0);
    const subs = (r: { calls: { sub: string }[] }) => r.calls.map((c) => c.sub).sort();

    // A weight file rewritten in place, same size.
    const w = p.path('hf/redpajama/model.safetensors');
    const bytes = await readFile(w);
    bytes[0] = (bytes[0] as number) ^ 1;
    await writeFile(w, bytes);
    expect(subs(await p.run())).toEqual(['convert_weight', 'convert_weight']);
    expect((await p.run()).calls).toEqual([]);

    // A new file in a source folder (gen_config copies tokenizer files it finds).
    await writeFile(p.path('hf/llama/added_tokens.json'), '{}');
    expect(subs(await p.run())).toEqual(['gen_config', 'gen_config']);

    // An environment variable a target reads.
    expect(subs(await p.run([], { MLC_MULTI_ARCH: '80,90a' }))).toEqual(['compile', 'compile', 'compile', 'compile']);
    expect((await p.run([], { MLC_MULTI_ARCH: '80,90a' })).calls).toEqual([]);

    // The web runtime a webgpu compile links.
    await writeFile(p.path('mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode v9');
    expect(subs(await p.run([], { MLC_MULTI_ARCH: '80,90a' }))).toEqual(['compile', 'compile', 'compile', 'compile']);

    // An output removed from out/.
    await rm(p.path('dist/libs/Llama-2-7b-q0f16-cuda.so'));
    const restored = await p.run([], { MLC_MULTI_ARCH: '80,90a' });
    expect(restored.calls).toEqual([]);
    expect(restored.stderr).toContain('cached  compile:Llama-2-7b/q0f16/cuda');

    // The toolchain's own file, changed at the same path.
    const tool = join(DOUBLE, '..', `mlc_llm_stamp_${process.pid}.mjs`);
    await copyFile(DOUBLE, tool);
    await chmod(tool, 0o755);
    try {
      expect((await p.run([], { MLC_BUILD_MLC_LLM: tool })).calls.length).toBeGreaterThan(0);
      expect((await p.run([], { MLC_BUILD_MLC_LLM: tool })).calls).toEqual([]);
      await appendFile(tool, '\n// patched\n');
      expect(count((await p.run([], { MLC_BUILD_MLC_LLM: tool })).calls, 'convert_weight')).toBe(4);
    } finally {
      await rm(tool, { force: true });
    }
  });

  it('is not written by a failed build, so the next build retries', async () => {
    const p = await Project.create(webgpuAndCuda, MODELS);
    const failed = await p.run([], { MLC_DOUBLE_FAIL: 'compile .*cuda' });
    expect(failed.code).toBe(1);
    expect(await readdir(stampDir(p)).catch(() => [])).toEqual([]);
    const again = await p.run();
    expect(again.code).toBe(0);
    expect(count(again.calls, 'compile')).toBeGreaterThan(0);
  });
});

describe('mlc.build.lock', () => {
  it('records what each source resolved to, sorted; rewritten only when that changes; drops sources the manifest no longer names', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run()).code).toBe(0);
    const lockPath = p.path('mlc.build.lock');
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as { version: number; sources: Record<string, { kind: string; files: Record<string, string> }> };
    expect(lock.version).toBe(1);
    expect(Object.keys(lock.sources)).toEqual(['./hf/llama', './hf/redpajama']);
    expect(lock.sources['./hf/redpajama']?.kind).toBe('local');
    expect(Object.keys(lock.sources['./hf/redpajama']?.files ?? {})).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(lock.sources['./hf/redpajama']?.files['model.safetensors']).toBe(`sha256:${await sha(p.path('hf/redpajama/model.safetensors'))}`);

    const before = (await stat(lockPath)).mtimeMs;
    await rm(p.path('dist/libs/Llama-2-7b-q4f16_1-cuda.so')); // a build that does something, with the same sources
    expect((await p.run()).code).toBe(0);
    expect((await stat(lockPath)).mtimeMs).toBe(before);

    await appendFile(p.path('hf/llama/pytorch_model-00001-of-00002.bin'), 'x');
    expect((await p.run()).code).toBe(0);
    const changed = JSON.parse(await readFile(lockPath, 'utf8')) as typeof lock;
    expect(changed.sources['./hf/llama']?.files['pytorch_model-00001-of-00002.bin']).toBe(
      `sha256:${await sha(p.path('hf/llama/pytorch_model-00001-of-00002.bin'))}`,
    );
    expect(changed.sources['./hf/redpajama']).toEqual(lock.sources['./hf/redpajama']);

    await p.editManifest((y) => y.replace(/^ {2}Llama-2-7b:.*\n/m, ''));
    expect((await p.run()).code).toBe(0);
    expect(Object.keys((JSON.parse(await readFile(lockPath, 'utf8')) as typeof lock).sources)).toEqual(['./hf/redpajama']);
  });
});

describe('leftovers of a killed build', () => {
  it('removes staging folders whose build process is gone, and keeps those of live ones', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run()).code).toBe(0);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(p.path('.mlc-build/tmp/convert_A_q4f16_1@999999-a1b2c3/in'), { recursive: true });
    await mkdir(p.path(`.mlc-build/tmp/compile_B@${process.pid}-d4e5f6`), { recursive: true });
    await rm(p.path('dist/libs/RedPajama-3B-q0f16-cuda.so')); // so the build takes the full path
    expect((await p.run()).code).toBe(0);
    expect(await readdir(p.path('.mlc-build/tmp'))).toEqual([`compile_B@${process.pid}-d4e5f6`]);
  });
});

describe('local folders', () => {
  it('are keyed by content: moving a folder with the same content rebuilds nothing', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run()).code).toBe(0);
    const { rename } = await import('node:fs/promises');
    await rename(p.path('hf/llama'), p.path('hf/llama-moved'));
    await p.editManifest((y) => y.replace('./hf/llama', './hf/llama-moved'));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    const lock = JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as { sources: Record<string, unknown> };
    expect(Object.keys(lock.sources)).toEqual(['./hf/llama-moved', './hf/redpajama']);
  });
});

describe('one build per project at a time', () => {
  const lockPath = (p: Project) => p.path('.mlc-build/projects', `${createHash('sha256').update(p.dir).digest('hex').slice(0, 16)}.lock`);
  const small = MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]');

  it('a second build waits, says for whom, then does its own build; each step runs once', async () => {
    const p = await Project.create(small, MODELS);
    const slow = { MLC_DOUBLE_SLEEP_MS: '300' };
    const first = p.run([], slow);
    await new Promise((r) => setTimeout(r, 400));
    const { run } = await import('../helpers/cli.js');
    const second = run([], { cwd: p.dir, env: { ...p.env, ...slow } });
    const [a, b] = await Promise.all([first, second]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/^mlc-build: waiting for the build lock held by pid \d+ since \d\d:\d\d:\d\d$/m);
    expect(b.stderr).toMatch(/nothing to do \(\d+ fresh\)/);
    const calls = a.calls.map((c) => c.args.join(' '));
    expect(new Set(calls).size).toBe(calls.length); // no step ran twice
    expect(count(a.calls, 'compile')).toBe(4);
  });

  it('takes over at once a lock whose process is dead, and --no-wait fails on a live one', async () => {
    const p = await Project.create(small, MODELS);
    const { mkdir } = await import('node:fs/promises');
    const { hostname } = await import('node:os');
    await mkdir(lockPath(p), { recursive: true });
    await writeFile(join(lockPath(p), 'owner.json'), JSON.stringify({ pid: 999999, host: hostname(), started: new Date().toISOString() }));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('waiting');

    await mkdir(lockPath(p), { recursive: true });
    await writeFile(join(lockPath(p), 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    const busy = await p.run(['build', '--no-wait']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/another build of this project is running \(pid \d+ since \d\d:\d\d:\d\d\); not waiting \(--no-wait\)/);
    await rm(lockPath(p), { recursive: true, force: true });
  });
});

describe('what a rebuild must and must not touch', () => {
  const twoCudas = (fast = '', slow = '') => `version: 1
models:
  RedPajama-3B: { source: ./hf/redpajama, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets:
  - { name: fast, preset: cuda${fast} }
  - { name: slow, preset: cuda${slow} }
`;
  const compiled = (calls: { sub: string; args: string[] }[]) =>
    calls
      .filter((c) => c.sub === 'compile')
      .map((c) =>
        c.args
          .find((a) => a.endsWith('.so'))
          ?.split('/')
          .pop(),
      );

  it("changing a target's opt: or overrides: rebuilds that target's library, and only that one", async () => {
    const p = await Project.create(twoCudas(), { redpajama: MODELS.redpajama });
    expect((await p.run()).code).toBe(0);
    const before = await sha(p.path('dist/libs/RedPajama-3B-q4f16_1-slow.so'));
    await writeFile(p.path('mlc.build.yaml'), twoCudas(', opt: O3'));
    const opt = await p.run();
    expect(opt.code).toBe(0);
    expect(compiled(opt.calls)).toEqual(['RedPajama-3B-q4f16_1-fast.so']);
    expect(opt.calls[0]?.args).toContain('O3');
    await writeFile(p.path('mlc.build.yaml'), twoCudas(', opt: O3', ', overrides: { tensor_parallel_shards: 2 }'));
    const overrides = await p.run();
    expect(overrides.code).toBe(0);
    expect(compiled(overrides.calls)).toEqual(['RedPajama-3B-q4f16_1-slow.so']);
    expect(overrides.calls[0]?.args).toContain('tensor_parallel_shards=2');
    expect(await sha(p.path('dist/libs/RedPajama-3B-q4f16_1-slow.so'))).not.toBe(before);
  });

  it('after a target or model leaves the manifest, outputs the user edited or replaced stay in out/', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda, android]'), MODELS);
    expect((await p.run()).code).toBe(0);
    const replaced = p.path('dist/libs/Llama-2-7b-q4f16_1-android.tar');
    await rm(replaced);
    await writeFile(replaced, 'my own build');
    const edited = p.path('dist/libs/RedPajama-3B-q0f16-android.tar');
    await writeFile(edited, 'edited in place'); // through the link: the stored blob no longer matches either
    const config = p.path('dist/RedPajama-3B-q4f16_1-MLC/mlc-chat-config.json');
    const text = await readFile(config, 'utf8');
    await rm(config);
    await writeFile(config, text.replace('"redpajama_chat"', '"mine"'));
    const untouched = p.path('dist/libs/Llama-2-7b-q0f16-android.tar');
    await p.editManifest((y) => y.replace('targets: [cuda, android]', 'targets: [cuda]').replace(/^ {2}RedPajama-3B:.*\n/m, ''));
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(await readFile(replaced, 'utf8')).toBe('my own build');
    expect(await readFile(edited, 'utf8')).toBe('edited in place');
    expect(await readFile(config, 'utf8')).toContain('"mine"');
    await expect(stat(untouched)).rejects.toThrow(); // what mlc-build placed and nobody changed is removed
    await expect(stat(p.path('dist/RedPajama-3B-q4f16_1-MLC/params_shard_0.bin'))).rejects.toThrow();
  });

  it('build --verify catches a corrupted blob whose size and mtime are unchanged', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run()).code).toBe(0);
    const lib = p.path('dist/libs/Llama-2-7b-q4f16_1-cuda.so');
    const digest = await sha(lib);
    const blob = p.path('.mlc-build/cas', digest.slice(0, 2), digest);
    const { execFileSync } = await import('node:child_process');
    const { open } = await import('node:fs/promises');
    const before = await stat(blob, { bigint: true });
    const fh = await open(blob, 'r+');
    await fh.write(Buffer.from([0x5a ^ ((await readFile(blob))[10] ?? 0)]), 0, 1, 10);
    await fh.close();
    // Back to the very same mtime, to the nanosecond (GNU touch takes @seconds.nanoseconds).
    const ns = before.mtimeNs;
    execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, blob]);
    const after = await stat(blob, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
    expect(await sha(blob)).not.toBe(digest);
    const trusting = await p.run(['build']);
    expect(trusting.calls).toEqual([]); // a plain build trusts the stat cache
    const verified = await p.run(['build', '--verify']);
    expect(verified.code).toBe(0);
    expect(verified.calls.map((c) => c.sub)).toEqual(['compile']);
    expect(await sha(lib)).toBe(digest);
  });

  it('build --json: the summary counts equal the finish events, after a failure, on success and restoring from the store', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    for (const [env, clean] of [
      [{ MLC_DOUBLE_FAIL: 'compile .*android' }, false],
      [{}, false],
      [{}, true],
    ] as [Record<string, string>, boolean][]) {
      if (clean) expect((await p.run(['clean'])).code).toBe(0);
      const r = await p.run(['build', '--json', '-j', '1'], env);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; status?: string; counts?: Record<string, number> });
      const finishes: Record<string, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
      for (const e of events) if (e.event === 'finish') finishes[e.status as string] = (finishes[e.status as string] ?? 0) + 1;
      const summary = events.filter((e) => e.event === 'summary');
      expect(summary).toHaveLength(1);
      expect(summary[0]?.counts).toEqual(finishes);
      expect(Object.values(finishes).reduce((a, b) => a + b, 0)).toBe(28);
      if (clean) expect(finishes.cached).toBeGreaterThan(0);
    }
  });
});

describe('closed output streams', () => {
  const small = MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]');
  const shell = (cmd: string, cwd: string, env: Record<string, string>) =>
    spawnSync('bash', ['-c', cmd], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });

  for (const [name, pipe] of [
    ['--json | head -1', 'node BIN --json | head -1'],
    ['2>&1 | head -2', 'node BIN -j 1 2>&1 | head -2'],
  ] as const) {
    it(`${name}: no stack trace, and the build completes and records its results`, async () => {
      const p = await Project.create(small, MODELS);
      const r = shell(`${pipe.replace('BIN', BIN)}; echo "exit=\${PIPESTATUS[0]}"`, p.dir, p.env);
      expect(r.stdout).toMatch(/exit=0\n$/);
      expect(r.stdout + r.stderr).not.toMatch(/EPIPE|internal error|at .*\.mjs/);
      const again = await p.run();
      expect(again.calls).toEqual([]); // nothing was left half-done
      expect(again.stderr).toMatch(/nothing to do/);
    });
  }

  it('doctor | head -1 and plan | head -1 end quietly', async () => {
    const p = await Project.create(small, MODELS);
    for (const cmd of ['doctor', 'plan', 'plan --json', 'status']) {
      const r = shell(`node ${BIN} ${cmd} | head -1`, p.dir, p.env);
      expect(r.stderr).not.toMatch(/EPIPE|internal error|Error:/);
      expect(r.stdout.split('\n').length).toBeLessThanOrEqual(2);
    }
  });
});

describe('read-only commands', () => {
  it('plan and status keep the digests they computed: a second plan hashes no source again', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, android, webgpu]', 'targets: [cuda]'), MODELS);
    expect((await p.run(['plan'])).code).toBe(0);
    const cache = JSON.parse(await readFile(p.path('.mlc-build/stat-cache.json'), 'utf8')) as Record<string, { digest: string }>;
    expect(cache[p.path('hf/redpajama/model.safetensors')]?.digest).toBe(await sha(p.path('hf/redpajama/model.safetensors')));
    expect((await readdir(p.path('.mlc-build'))).sort()).toEqual(['stat-cache.json']); // and nothing else
  });
});
