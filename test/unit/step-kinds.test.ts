// The step kinds: each kind's key fields (which manifest and input changes change which key), and
// what users see of the registry (step= spellings, graph shapes, the manifest's per-kind keys).
import { tempDir } from '../helpers/cli.js';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepNode } from '../../src/graph/nodes.js';
import { keyOf } from '../../src/keys.js';
import type { Manifest } from '../../src/manifest/types.js';
import type { Source } from '../../src/sources/source.js';
import { renderGraph } from '../../src/graph/render.js';
import { parseSelectors } from '../../src/graph/select.js';
import { NODE_KINDS, stepOf, stepSpellings, type Files, type NodeKind, type StepContext } from '../../src/steps/index.js';
import type { BuildGraph } from '../../src/graph/build.js';
import { diagnosticsOf, graphOf, manifestOf } from '../helpers/manifest.js';

const BASE = `version: 1
models:
  M: { source: hf://org/m, conv_template: llama-2, model_type: llama }
quantizations: [q4f16_1, q0f16]
targets: [cuda, android]
`;

/** A context over one manifest: a fixed toolchain digest and environment. */
function contextOf(manifest: Manifest, graph: BuildGraph, opts: { toolchain?: string; env?: NodeJS.ProcessEnv } = {}): StepContext {
  return {
    manifest,
    graph,
    stepEnv: opts.env ?? {},
    model: (id) => manifest.models.find((m) => m.id === id) as Manifest['models'][number],
    target: (name) => manifest.targets.find((t) => t.name === name) as Manifest['targets'][number],
    source: () => ({ text: 'hf://org/m', mirrored: true, folder: () => undefined }) as unknown as Source,
    toolchainDigest: () => Promise.resolve({ ok: true as const, value: opts.toolchain ?? 'tool-1' }),
    digest: () => Promise.resolve({ digest: 'd', size: 1 }),
    observe: () => {},
    memo: async (_k, make) => make(),
    foreign: new Map(),
    building: undefined,
  };
}

const files = (entries: Record<string, string>): Files =>
  Object.fromEntries(Object.entries(entries).map(([n, d]) => [n, { digest: d, size: 1, path: `/blobs/${d}` }]));

/** The key of `id` in a manifest, given its dependencies' files. */
async function keyIn(yaml: string, id: string, deps: Record<string, Files>, opts: Parameters<typeof contextOf>[2] = {}): Promise<string> {
  const { manifest, graph } = graphOf(yaml);
  const node = graph.nodes.get(id) as StepNode;
  const ctx = contextOf(manifest, graph, opts);
  const ev = await stepOf(node).evaluate(ctx, (d) => deps[d] as Files);
  if (ev.kind !== 'action') throw new Error(`${id}: ${ev.kind}`);
  return keyOf(ev.fields);
}

const META = { 'download:M/meta': files({ 'config.json': 'c1', 'tokenizer.json': 't1' }) };
const WEIGHTS = { 'download:M/weights': files({ 'model.safetensors': 'w1' }) };

describe('convert keys', () => {
  const id = 'convert:M/q4f16_1';
  const key = (yaml = BASE, deps: Record<string, Files> = { ...META, ...WEIGHTS }, opts = {}) => keyIn(yaml, id, deps, opts);

  it('change with the weights, config.json, the toolchain and MLC_INTERNAL_PRESHARD_NUM', async () => {
    const k = await key();
    expect(await key(BASE, { ...META, 'download:M/weights': files({ 'model.safetensors': 'w2' }) })).not.toBe(k);
    expect(await key(BASE, { 'download:M/meta': files({ 'config.json': 'c2', 'tokenizer.json': 't1' }), ...WEIGHTS })).not.toBe(k);
    expect(await key(BASE, undefined, { toolchain: 'tool-2' })).not.toBe(k);
    expect(await key(BASE, undefined, { env: { MLC_INTERNAL_PRESHARD_NUM: '4' } })).not.toBe(k);
  });

  it('do not change with the tokenizer, the conv template, gen_config options or the targets', async () => {
    const k = await key();
    expect(await key(BASE, { 'download:M/meta': files({ 'config.json': 'c1', 'tokenizer.json': 't2' }), ...WEIGHTS })).toBe(k);
    expect(await key(BASE.replace('conv_template: llama-2', 'conv_template: LM'))).toBe(k);
    expect(await key(BASE + 'config: { context_window_size: 1024 }\n')).toBe(k);
    expect(await key(BASE.replace('targets: [cuda, android]', 'targets: [vulkan]'))).toBe(k);
  });
});

describe('config keys', () => {
  const id = 'config:M/q4f16_1/base';
  const key = (yaml = BASE, deps: Record<string, Files> = META, opts = {}) => keyIn(yaml, id, deps, opts);

  it('change with the meta files, the conv template, the options and the toolchain', async () => {
    const k = await key();
    expect(await key(BASE, { 'download:M/meta': files({ 'config.json': 'c1', 'tokenizer.json': 't2' }) })).not.toBe(k);
    expect(await key(BASE.replace('conv_template: llama-2', 'conv_template: LM'))).not.toBe(k);
    expect(await key(BASE + 'config: { prefill_chunk_size: 1024 }\n')).not.toBe(k);
    expect(await key(BASE, undefined, { toolchain: 'tool-2' })).not.toBe(k);
  });

  it('do not change with the weights or the targets', async () => {
    const k = await key();
    expect(await keyIn(BASE, id, { ...META, 'download:M/weights': files({ 'model.safetensors': 'w9' }) })).toBe(k);
    expect(await key(BASE.replace('targets: [cuda, android]', 'targets: [cuda, vulkan]'))).toBe(k);
  });
});

describe('compile keys', () => {
  const id = 'compile:M/q4f16_1/cuda';
  const withChat = async (yaml: string, chat: Record<string, unknown>, opts: Parameters<typeof contextOf>[2] = {}) => {
    const dir = await tempDir('mlc-build-kind-');
    await writeFile(join(dir, 'c.json'), JSON.stringify(chat));
    const config = { 'mlc-chat-config.json': { digest: JSON.stringify(chat), size: 1, path: join(dir, 'c.json') } };
    return keyIn(yaml, id, { 'config:M/q4f16_1/base': config }, opts);
  };
  const chat = { model_type: 'llama', quantization: 'q4f16_1', context_window_size: 4096, conv_template: { name: 'llama-2' }, temperature: 0.6 };

  it("change with the config's compiled fields, the target's device, opt, overrides and env it reads, and the toolchain", async () => {
    const k = await withChat(BASE, chat);
    expect(await withChat(BASE, { ...chat, context_window_size: 2048 })).not.toBe(k);
    const targets = (t: string) => BASE.replace('targets: [cuda, android]', `targets: [${t}]`);
    expect(await withChat(targets('{ name: cuda, preset: cuda, opt: O3 }'), chat)).not.toBe(k);
    expect(await withChat(targets('{ name: cuda, preset: cuda, overrides: { tensor_parallel_shards: 2 } }'), chat)).not.toBe(k);
    expect(await withChat(targets('{ name: cuda, device: rocm, ext: so }'), chat)).not.toBe(k);
    expect(await withChat(BASE, chat, { env: { MLC_MULTI_ARCH: '80,90a' } })).not.toBe(k);
    expect(await withChat(BASE, chat, { toolchain: 'tool-2' })).not.toBe(k);
  });

  it('do not change with what compile ignores (conv template, sampling defaults) or with other targets', async () => {
    const k = await withChat(BASE, chat);
    expect(await withChat(BASE, { ...chat, conv_template: { name: 'LM' }, temperature: 0.1 })).toBe(k);
    expect(await withChat(BASE.replace('targets: [cuda, android]', 'targets: [cuda, vulkan]'), chat)).toBe(k);
    expect(await withChat(BASE, chat, { env: { SOMETHING_ELSE: '1' } })).toBe(k);
  });
});

// What users see of the registry: the spellings step= takes, how the graph is drawn, the
// manifest's per-kind settings. Expected values are written out, so a change to a kind shows here.
describe('the kinds as users name and see them', () => {
  const SMALL = `version: 1
models:
  M: { source: hf://org/m, conv_template: llama-2, model_type: llama }
quantizations: [q4f16_1]
targets: [cuda]
`;

  it('step= takes each kind by its name and its mlc_llm spelling, and nothing else', () => {
    const { manifest, graph } = graphOf(SMALL);
    const spellings: Record<NodeKind, string[]> = {
      download: ['download'],
      convert: ['convert', 'convert_weight'],
      config: ['config', 'gen_config'],
      compile: ['compile'],
    };
    for (const [kind, names] of Object.entries(spellings)) {
      for (const name of names)
        expect(parseSelectors([`step=${name}`], graph, manifest), name).toEqual({ ok: true, value: { dims: {}, ids: [], steps: [kind] } });
    }
    expect([...stepSpellings().keys()].sort()).toEqual(Object.values(spellings).flat().sort());
  });

  it('step= with an unknown kind says which kinds there are', () => {
    const { manifest, graph } = graphOf(SMALL);
    expect(parseSelectors(['step=compiel'], graph, manifest)).toEqual({
      ok: false,
      error: 'unknown step "compiel" (did you mean "compile"?); steps are download, convert, config, compile',
    });
    const weights = parseSelectors(['step=weights'], graph, manifest);
    expect(weights.ok ? 'accepted' : weights.error).toMatch(/^unknown step "weights".*; steps are download, convert, config, compile$/);
  });

  it('graph --format dot draws each kind in its shape, labelled with the node ids', () => {
    const { graph } = graphOf(SMALL);
    expect(renderGraph(graph, new Set(graph.nodes.keys()), 'dot')).toBe(`digraph mlc_build {
  rankdir=LR;
  node [fontname="Helvetica"];
  "download:M/meta" [shape=folder];
  "download:M/weights" [shape=folder];
  "convert:M/q4f16_1" [shape=box3d];
  "config:M/q4f16_1/base" [shape=note];
  "compile:M/q4f16_1/cuda" [shape=component];
  "download:M/meta" -> "convert:M/q4f16_1";
  "download:M/weights" -> "convert:M/q4f16_1";
  "download:M/meta" -> "config:M/q4f16_1/base";
  "config:M/q4f16_1/base" -> "compile:M/q4f16_1/cuda";
}
`);
    expect(renderGraph(graph, new Set(graph.nodes.keys()), 'mermaid')).toBe(`flowchart LR
  n0["download:M/meta"]
  n1["download:M/weights"]
  n2["convert:M/q4f16_1"]
  n3["config:M/q4f16_1/base"]
  n4["compile:M/q4f16_1/cuda"]
  n0 --> n2
  n1 --> n2
  n0 --> n3
  n3 --> n4
`);
  });

  it("the manifest's resources: and watch.supersede: take exactly the registry's kinds", () => {
    const schema = JSON.parse(readFileSync(new URL('../../schema/mlc.build.schema.json', import.meta.url), 'utf8')) as {
      properties: { resources: { properties: Record<string, unknown> }; watch: { properties: { supersede: { properties: Record<string, unknown> } } } };
    };
    const pools = ['net', 'cpu', 'gpu'];
    expect(Object.keys(schema.properties.resources.properties).filter((k) => !pools.includes(k))).toEqual([...NODE_KINDS]);
    expect(Object.keys(schema.properties.watch.properties.supersede.properties)).toEqual([...NODE_KINDS]);
    expect(NODE_KINDS).toEqual(['download', 'convert', 'config', 'compile']);
    const manifest = manifestOf(SMALL + 'resources: { compile: { slots: 2 }, convert: { pool: cpu } }\nwatch: { supersede: { config: finish } }\n');
    expect(manifest.resources.steps).toEqual({ compile: { slots: 2 }, convert: { pool: 'cpu' } });
    expect(manifest.watch.supersede).toEqual({ config: 'finish' });
    expect(diagnosticsOf(SMALL + 'watch: { supersede: { compil: finish } }\n').map((d) => d.message)).toEqual([
      'unknown key "compil" in watch.supersede (did you mean "compile"?)',
    ]);
  });
});
