#!/usr/bin/env node
// A project to try mlc-build without mlc_llm: two small local models (real HF configs, made-up
// weights), the web runtime a webgpu compile needs, and the mlc_llm test double as the toolchain.
// Usage: node scripts/demo.mjs [DIR] [mlc-build args…]  — writes DIR (default ./demo) and builds it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [dirArg = 'demo', ...args] = process.argv.slice(2);
const dir = resolve(dirArg);
const models = { 'RedPajama-3B': 'redpajama_3b_v1', 'Qwen2-0.5B': 'qwen2_0_5b' };
for (const [name, preset] of Object.entries(models)) {
  const m = join(dir, 'models', name);
  mkdirSync(m, { recursive: true });
  copyFileSync(join(root, 'test/fixtures/hf-configs', `${preset}.json`), join(m, 'config.json'));
  writeFileSync(join(m, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE' } }));
  if (!existsSync(join(m, 'model.safetensors'))) writeFileSync(join(m, 'model.safetensors'), Buffer.alloc(200_000, name.length));
}
mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'web runtime');
if (!existsSync(join(dir, 'mlc.build.yaml'))) {
  writeFileSync(
    join(dir, 'mlc.build.yaml'),
    `version: 1
models:
  RedPajama-3B: { source: ./models/RedPajama-3B, conv_template: redpajama_chat }
  Qwen2-0.5B: { source: ./models/Qwen2-0.5B, conv_template: qwen2 }
quantizations: [q4f16_1, q0f16]
targets: [cuda, metal, vulkan, webgpu, iphone, android]
`,
  );
}
// The double builds for every platform, so every cell is tried (MLC_BUILD_ALL_HOSTS).
const env = {
  ...process.env,
  MLC_BUILD_MLC_LLM: join(root, 'test/double/mlc_llm.mjs'),
  MLC_BUILD_ALL_HOSTS: '1',
  MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
};
process.stderr.write(`demo project in ${dir}; building it with the mlc_llm test double\n`);
const r = spawnSync(process.execPath, [join(root, 'bin/mlc-build.js'), '-C', dir, ...args], { env, stdio: 'inherit' });
process.exit(r.status ?? 1);
