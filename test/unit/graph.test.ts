import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildGraph, type BuildGraph } from '../../src/graph/build.js';
import { parseSelectors, selectNodes } from '../../src/graph/select.js';
import { diagnosticsOf, graphOf, manifestOf } from '../helpers/manifest.js';

const SEED = readFileSync(new URL('../../examples/seed-release.mlc.build.yaml', import.meta.url), 'utf8');

function reachable(graph: BuildGraph, from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop() as string;
    for (const s of graph.graph.successors(id) ?? [])
      if (!seen.has(s)) {
        seen.add(s);
        stack.push(s);
      }
  }
  return seen;
}

describe('the seed matrix (3 models × q4f16_1 × 8 platforms)', () => {
  const { graph } = graphOf(SEED);
  const ofKind = (k: string) => [...graph.nodes.values()].filter((n) => n.kind === k);

  it('has one meta and one weights download per model, 3 converts, 24 compiles', () => {
    expect(ofKind('download').map((n) => n.id)).toHaveLength(6);
    expect(ofKind('convert').map((n) => n.id)).toEqual([
      'convert:RedPajama-INCITE-Chat-3B-v1/q4f16_1',
      'convert:Llama-2-7b-chat-hf/q4f16_1',
      'convert:Mistral-7B-Instruct-v0.2/q4f16_1',
    ]);
    expect(ofKind('compile')).toHaveLength(24);
  });

  it('has one config per distinct option set, the base always among them', () => {
    expect(
      ofKind('config')
        .map((n) => n.id)
        .sort(),
    ).toEqual([
      'config:Llama-2-7b-chat-hf/q4f16_1/base',
      'config:Llama-2-7b-chat-hf/q4f16_1/ctx2k',
      'config:Llama-2-7b-chat-hf/q4f16_1/ctx768',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/base',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/cs1k',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/sw1k_cs128',
      'config:RedPajama-INCITE-Chat-3B-v1/q4f16_1/base',
      'config:RedPajama-INCITE-Chat-3B-v1/q4f16_1/ctx768',
    ]);
  });

  it('never makes a config or compile wait for weights', () => {
    for (const d of ofKind('download').filter((n) => n.id.endsWith('/weights'))) {
      const kinds = [...reachable(graph, d.id)].map((id) => graph.nodes.get(id)?.kind);
      expect(kinds).toEqual(['convert']);
    }
    for (const n of ofKind('config')) expect(n.deps).toEqual([n.id.replace(/^config:([^/]+)\/.*$/, 'download:$1/meta')]);
  });

  it('puts each library under out/libs with the seed name', () => {
    const libs = ofKind('compile').map((n) => (n.kind === 'compile' ? n.library.replace('/project/dist/libs/', '') : ''));
    expect(libs.filter((l) => l.startsWith('RedPajama'))).toEqual([
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-cuda.so',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-metal.so',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-metal_x86_64.dylib',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-vulkan.so',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-vulkan.dll',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-webgpu.wasm',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-iphone.tar',
      'RedPajama-INCITE-Chat-3B-v1-q4f16_1-android.tar',
    ]);
  });

  it('gives each variant its own folder next to the base one', () => {
    const dirs = ofKind('config').map((n) => (n.kind === 'config' ? n.outDir.replace('/project/dist/', '') : ''));
    expect(dirs).toContain('Mistral-7B-Instruct-v0.2-q4f16_1-MLC');
    expect(dirs).toContain('Mistral-7B-Instruct-v0.2-q4f16_1-sw1k_cs128-MLC');
    expect(dirs).toContain('RedPajama-INCITE-Chat-3B-v1-q4f16_1-ctx768-MLC');
  });
});

describe('sharing', () => {
  it('targets with equal gen_config options share one config node; convert ignores targets', () => {
    const { graph } = graphOf(`
version: 1
models: { A: { source: hf://o/a, conv_template: LM } }
quantizations: [q4f16_1, q0f16]
targets: [cuda, vulkan, webgpu, iphone, android]
`);
    const kinds = [...graph.nodes.values()].map((n) => n.kind);
    expect(kinds.filter((k) => k === 'convert')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'config')).toHaveLength(4); // base + ctx768 per quantization
    expect(graph.nodes.get('compile:A/q4f16_1/android')?.deps).toEqual(['config:A/q4f16_1/ctx768']);
    expect(graph.nodes.get('compile:A/q4f16_1/iphone')?.deps).toEqual(['config:A/q4f16_1/ctx768']);
  });

  it('builds the base config even when no target uses it', () => {
    const { graph } = graphOf(`
version: 1
models: { A: { source: hf://o/a, conv_template: LM } }
quantizations: [q4f16_1]
targets: [iphone]
`);
    expect([...graph.nodes.keys()].filter((id) => id.startsWith('config:'))).toEqual(['config:A/q4f16_1/base', 'config:A/q4f16_1/ctx768']);
  });

  it('names a variant that removes a base option with "no"', () => {
    const { graph } = graphOf(`
version: 1
models: { M: { source: hf://o/m, conv_template: mistral_default, config: { context_window_size: 4096 } } }
quantizations: [q4f16_1]
targets: [cuda, { name: phone, preset: android, config: { context_window_size: null, sliding_window_size: 1024 } }]
`);
    expect(graph.nodes.get('compile:M/q4f16_1/phone')?.deps).toEqual(['config:M/q4f16_1/noctx_sw1k']);
  });
});

describe('naming collisions are manifest errors', () => {
  it('two targets writing the same library file', () => {
    const m = manifestOf(`
version: 1
models: { A: { source: hf://o/a, conv_template: LM } }
quantizations: [q4f16_1]
targets:
  - metal-x86_64
  - { name: metal-intel, device: metal, ext: dylib, stem: metal_x86_64 }
`);
    const g = buildGraph(m);
    expect(g.ok).toBe(false);
    expect(!g.ok && g.error.map((d) => `${d.location?.line}:${d.location?.col}: ${d.message}`)).toEqual([
      '7:5: library "libs/A-q4f16_1-metal_x86_64.dylib" would be written by both A/q4f16_1/metal-x86_64 and A/q4f16_1/metal-intel; give target "metal-intel" a different stem',
    ]);
  });

  it('a naming template that drops the quantization', () => {
    const m = manifestOf(`
version: 1
models: { A: { source: hf://o/a, conv_template: LM } }
quantizations: [q4f16_1, q0f16]
targets: [cuda]
naming: { weights: "{model}{-tag}-MLC" }
`);
    const g = buildGraph(m);
    expect(!g.ok && g.error[0]?.message).toBe(
      'output folder "A-MLC" would hold both config:A/q4f16_1/base and config:A/q0f16/base; change naming.weights or the model ids',
    );
  });

  it('diagnostics from the manifest stage point at the offending text', () => {
    const d = diagnosticsOf(`version: 1
models: { A: { source: hf://o/a, conv_template: LM } }
quantizations: [q4f16_1]
targets: [cuad]
`);
    expect(d.map((x) => [x.message, x.location?.line, x.location?.col, x.location?.length])).toEqual([
      ['unknown target "cuad" (did you mean "cuda"?)', 4, 11, 4],
    ]);
  });
});

describe('selectors', () => {
  const { manifest, graph } = graphOf(SEED);
  const pick = (...args: string[]) => {
    const s = parseSelectors(args, graph, manifest);
    if (!s.ok) throw new Error(s.error);
    const n = selectNodes(graph, manifest, s.value);
    if (!n.ok) throw new Error(n.error);
    return [...n.value].sort();
  };

  it('a cell selector picks the library and the weights folder it runs with, with every dependency', () => {
    expect(pick('model=Mistral-7B-Instruct-v0.2', 'target=iphone')).toEqual([
      'compile:Mistral-7B-Instruct-v0.2/q4f16_1/iphone',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/base',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/sw1k_cs128',
      'convert:Mistral-7B-Instruct-v0.2/q4f16_1',
      'download:Mistral-7B-Instruct-v0.2/meta',
      'download:Mistral-7B-Instruct-v0.2/weights',
    ]);
  });

  it('step=compile builds libraries without converting weights', () => {
    const ids = pick('step=compile');
    expect(ids.filter((i) => i.startsWith('compile:'))).toHaveLength(24);
    expect(ids.some((i) => i.startsWith('convert:') || i.endsWith('/weights'))).toBe(false);
  });

  it('combines step= with cell selectors, and takes node ids', () => {
    expect(pick('target=webgpu', 'step=config')).toEqual([
      'config:Llama-2-7b-chat-hf/q4f16_1/base',
      'config:Llama-2-7b-chat-hf/q4f16_1/ctx2k',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/base',
      'config:Mistral-7B-Instruct-v0.2/q4f16_1/cs1k',
      'config:RedPajama-INCITE-Chat-3B-v1/q4f16_1/base',
      'download:Llama-2-7b-chat-hf/meta',
      'download:Mistral-7B-Instruct-v0.2/meta',
      'download:RedPajama-INCITE-Chat-3B-v1/meta',
    ]);
    expect(pick('compile:Llama-2-7b-chat-hf/q4f16_1/cuda')).toEqual([
      'compile:Llama-2-7b-chat-hf/q4f16_1/cuda',
      'config:Llama-2-7b-chat-hf/q4f16_1/base',
      'download:Llama-2-7b-chat-hf/meta',
    ]);
  });

  it('rejects unknown values with a suggestion', () => {
    expect(parseSelectors(['target=cuad'], graph, manifest)).toEqual({
      ok: false,
      error:
        'target=cuad matches nothing in the matrix (did you mean "cuda"?); the matrix has target cuda, metal, metal-x86_64, vulkan, vulkan-windows, webgpu, iphone, android',
    });
    expect(parseSelectors(['step=compiel'], graph, manifest)).toEqual({
      ok: false,
      error: 'unknown step "compiel" (did you mean "compile"?); steps are download, convert, config, compile',
    });
    expect(parseSelectors(['compile:Llama-2-7b-chat-hf/q4f16_1/cudaa'], graph, manifest).ok).toBe(false);
  });
});
