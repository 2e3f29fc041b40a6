// `plan` and `graph` through the real binary, in temp folders.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, run, tempProject } from '../helpers/cli.js';

const SEED = readFileSync(new URL('../../examples/seed-release.mlc.build.yaml', import.meta.url), 'utf8');
const redpajama = readFileSync(join(FIXTURES, 'hf-configs/redpajama_3b_v1.json'), 'utf8');

interface JsonNode {
  id: string;
  kind: string;
  deps: string[];
  state: string;
  reason: string;
  argv: string[] | null;
  outputs: string[];
}

async function planJson(cwd: string, ...args: string[]): Promise<JsonNode[]> {
  const r = await run(['plan', '--json', ...args], { cwd });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { nodes: JsonNode[] }).nodes;
}

describe('plan of the seed manifest', () => {
  it('prints a readable table with every step, why, and its command', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED });
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Downloads (6)');
    expect(r.stdout).toContain('Libraries (24)');
    expect(r.stdout).toMatch(/missing\s+download:Llama-2-7b-chat-hf\/meta\s+revision main, not yet resolved/);
    expect(r.stdout).toContain(
      '$ mlc_llm compile ./dist/Mistral-7B-Instruct-v0.2-q4f16_1-sw1k_cs128-MLC/mlc-chat-config.json --device iphone -o dist/libs/Mistral-7B-Instruct-v0.2-q4f16_1-iphone.tar',
    );
    expect(r.stdout.trim().split('\n').at(-1)).toBe('41 steps (6 missing, 35 stale): 41 to run');
  });

  it('--json follows the documented schema', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED });
    const nodes = await planJson(dir);
    expect(nodes).toHaveLength(41);
    for (const n of nodes) {
      expect(Object.keys(n)).toEqual(['id', 'kind', 'deps', 'state', 'reason', 'argv', 'env', 'outputs']);
      expect(['download', 'convert', 'config', 'compile']).toContain(n.kind);
      expect(['fresh', 'cached', 'stale', 'missing']).toContain(n.state);
      expect(n.argv === null).toBe(n.kind === 'download');
    }
    const byKind = (k: string) => nodes.filter((n) => n.kind === k);
    expect(byKind('convert')).toHaveLength(3);
    expect(byKind('compile')).toHaveLength(24);
    expect(byKind('config')).toHaveLength(8);
    // Downstream of a step that must run: stale, saying what it waits for.
    const compile = nodes.find((n) => n.id === 'compile:Llama-2-7b-chat-hf/q4f16_1/webgpu');
    expect(compile).toMatchObject({
      state: 'stale',
      reason: 'waits for config:Llama-2-7b-chat-hf/q4f16_1/ctx2k',
      outputs: ['dist/libs/Llama-2-7b-chat-hf-q4f16_1-webgpu.wasm'],
    });
    const convert = nodes.find((n) => n.id === 'convert:Mistral-7B-Instruct-v0.2/q4f16_1');
    expect(convert?.outputs).toEqual([
      'dist/Mistral-7B-Instruct-v0.2-q4f16_1-MLC/tensor-cache.json',
      'dist/Mistral-7B-Instruct-v0.2-q4f16_1-MLC/params_shard_*.bin',
    ]);
  });

  it('matches the seed: each compile has the seed device and extension', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED });
    const nodes = await planJson(dir, 'step=compile');
    const seen = nodes
      .filter((n) => n.kind === 'compile' && n.id.includes('RedPajama'))
      .map((n) => {
        const argv = n.argv ?? [];
        return `${argv[argv.indexOf('--device') + 1]} ${argv[argv.indexOf('-o') + 1]?.replace(/^.*q4f16_1-/, '')}`;
      });
    expect(seen).toEqual([
      'cuda cuda.so',
      'metal metal.so',
      'metal:x86-64 metal_x86_64.dylib',
      'vulkan vulkan.so',
      'vulkan vulkan.dll',
      'webgpu webgpu.wasm',
      'iphone iphone.tar',
      'android android.tar',
    ]);
    expect(nodes.some((n) => n.kind === 'convert')).toBe(false);
  });

  it('--commands prints shell lines a user could run, creating the library folder first', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED });
    const r = await run(['plan', '--commands', 'model=RedPajama-INCITE-Chat-3B-v1', 'target=cuda'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '# download:RedPajama-INCITE-Chat-3B-v1/meta: remote HEAD, not yet resolved → dist/models/RedPajama-INCITE-Chat-3B-v1/',
        '# download:RedPajama-INCITE-Chat-3B-v1/weights: remote HEAD, not yet resolved → dist/models/RedPajama-INCITE-Chat-3B-v1/',
        'mlc_llm convert_weight ./dist/models/RedPajama-INCITE-Chat-3B-v1/ --quantization q4f16_1 -o dist/RedPajama-INCITE-Chat-3B-v1-q4f16_1-MLC',
        'mlc_llm gen_config ./dist/models/RedPajama-INCITE-Chat-3B-v1/ --quantization q4f16_1 --conv-template redpajama_chat -o dist/RedPajama-INCITE-Chat-3B-v1-q4f16_1-MLC/',
        'mkdir -p dist/libs',
        'mlc_llm compile ./dist/RedPajama-INCITE-Chat-3B-v1-q4f16_1-MLC/mlc-chat-config.json --device cuda -o dist/libs/RedPajama-INCITE-Chat-3B-v1-q4f16_1-cuda.so',
        '',
      ].join('\n'),
    );
  });

  it('uses the toolchain command from the manifest, overridden by MLC_BUILD_MLC_LLM', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED.replace('mlc_llm: mlc_llm ', 'mlc_llm: python -m mlc_llm') });
    const nodes = await planJson(dir, 'step=convert');
    expect(nodes.find((n) => n.kind === 'convert')?.argv?.slice(0, 4)).toEqual(['python', '-m', 'mlc_llm', 'convert_weight']);
    const r = await run(['plan', '--json', 'step=convert'], { cwd: dir, env: { MLC_BUILD_MLC_LLM: '/opt/venv/bin/mlc_llm' } });
    const viaEnv = (JSON.parse(r.stdout) as { nodes: JsonNode[] }).nodes;
    expect(viaEnv.find((n) => n.kind === 'convert')?.argv?.slice(0, 2)).toEqual(['/opt/venv/bin/mlc_llm', 'convert_weight']);
  });
});

describe('local sources', () => {
  const yaml = `version: 1
models:
  rp: { source: ./hf/redpajama, conv_template: redpajama_chat }
quantizations: [q4f16_1, q0f16]
targets: [cuda, iphone]
`;

  it('reads from the folder itself and infers the model type without passing it', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': yaml, 'hf/redpajama/config.json': redpajama });
    const nodes = await planJson(dir);
    const convert = nodes.find((n) => n.id === 'convert:rp/q4f16_1');
    expect(convert?.argv).toEqual(['mlc_llm', 'convert_weight', './hf/redpajama/', '--quantization', 'q4f16_1', '-o', 'dist/rp-q4f16_1-MLC']);
    expect(nodes.find((n) => n.id === 'download:rp/meta')).toMatchObject({ state: 'missing', reason: 'folder hf/redpajama/ not yet imported' });
  });
});

describe('finding the manifest', () => {
  const yaml = `version: 1\nmodels: { A: { source: hf://o/a, conv_template: LM } }\nquantizations: [q4f16_1]\ntargets: [cuda]\n`;

  it('searches up from a subfolder, and paths stay relative to the manifest', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': yaml, 'package.json': '{"name":"p"}' });
    await mkdir(join(dir, 'sub/deeper'), { recursive: true });
    const nodes = await planJson(join(dir, 'sub/deeper'), 'step=compile');
    expect(nodes.find((n) => n.kind === 'compile')?.outputs).toEqual(['dist/libs/A-q4f16_1-cuda.so']);
    const r = await run(['plan', '--commands', 'step=compile'], { cwd: join(dir, 'sub/deeper') });
    expect(r.stdout.split('\n')[0]).toBe(`cd ${dir}`);
  });

  it('finds package.json#mlcBuild and .mlcbuildrc.yaml', async () => {
    const inPkg = await tempProject({
      'package.json': JSON.stringify(
        { name: 'p', mlcBuild: { version: 1, models: { A: { source: 'hf://o/a', conv_template: 'LM' } }, quantizations: ['q4f16_1'], targets: ['webgpu'] } },
        null,
        2,
      ),
    });
    expect((await planJson(inPkg, 'step=compile')).map((n) => n.id)).toContain('compile:A/q4f16_1/webgpu');
    const rc = await tempProject({ '.mlcbuildrc.yaml': yaml });
    expect((await planJson(rc, 'step=compile')).map((n) => n.id)).toContain('compile:A/q4f16_1/cuda');
  });

  it('locates errors inside package.json#mlcBuild', async () => {
    const dir = await tempProject({
      'package.json':
        '{\n  "name": "p",\n  "mlcBuild": {\n    "version": 1,\n    "models": {},\n    "quantizations": ["q4f16_1"],\n    "targets": ["cudaa"]\n  }\n}\n',
    });
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('package.json:5:15: models must declare at least one model');
  });

  it('takes --config FILE', async () => {
    const dir = await tempProject({ 'conf/release.yaml': yaml });
    const nodes = await planJson(dir, '--config', 'conf/release.yaml', 'step=compile');
    expect(nodes.find((n) => n.kind === 'compile')?.outputs).toEqual(['dist/libs/A-q4f16_1-cuda.so']);
  });
});

describe('graph', () => {
  it('draws dot, mermaid and json', async () => {
    const dir = await tempProject({ 'mlc.build.yaml': SEED });
    const dot = await run(['graph', 'model=Llama-2-7b-chat-hf', 'target=webgpu'], { cwd: dir });
    expect(dot.code).toBe(0);
    expect(dot.stdout).toContain('"config:Llama-2-7b-chat-hf/q4f16_1/ctx2k" -> "compile:Llama-2-7b-chat-hf/q4f16_1/webgpu";');
    expect(dot.stdout.startsWith('digraph mlc_build {')).toBe(true);
    const mermaid = await run(['graph', '--format', 'mermaid', 'step=config'], { cwd: dir });
    expect(mermaid.stdout.split('\n')[0]).toBe('flowchart LR');
    expect(mermaid.stdout).toContain('["config:Mistral-7B-Instruct-v0.2/q4f16_1/sw1k_cs128"]');
    const json = await run(['graph', '-f', 'json'], { cwd: dir });
    const g = JSON.parse(json.stdout) as { nodes: { id: string; deps: string[] }[] };
    expect(g.nodes).toHaveLength(41);
    const bad = await run(['graph', '--format', 'svg'], { cwd: dir });
    expect(bad.code).toBe(2);
  });

  it('every command has --help', async () => {
    const dir = await tempProject({});
    for (const args of [['--help'], ['plan', '--help'], ['graph', '--help']]) {
      const r = await run(args, { cwd: dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: mlc-build');
    }
  });
});

describe('the main job (mlc.build.yaml)', () => {
  it('plans without mlc_llm or the network, names no gated source, and marks what this host cannot build', async () => {
    const text = readFileSync(new URL('../../mlc.build.yaml', import.meta.url), 'utf8');
    expect(text).not.toMatch(/^\s+source: hf:\/\/meta-llama/m); // gated: kept commented out
    const dir = await tempProject({ 'mlc.build.yaml': text });
    const r = await run(['plan', '--json'], { cwd: dir, env: { MLC_BUILD_MLC_LLM: '/nonexistent/mlc_llm', MLC_BUILD_ALL_HOSTS: '' } });
    expect(r.code).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { nodes: { id: string; state: string }[] }).nodes;
    expect(nodes.filter((n) => n.id.startsWith('compile:')).length).toBe(8);
    if (process.platform === 'linux') expect(nodes.find((n) => n.id.endsWith('/iphone'))?.state).toBe('unavailable');
  });
});
