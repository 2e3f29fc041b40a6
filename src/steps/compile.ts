// compile:<model>/<quant>/<target>: `mlc_llm compile`, one per matrix cell. Keyed on the part of
// mlc-chat-config.json that compile reads (early cutoff), the target's options, the host and the
// environment the target reads; never on the weights.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CompileNode } from '../graph/nodes.js';
import type { Target } from '../manifest/types.js';
import { systemLibPrefixFor } from '../graph/naming.js';
import { recipes } from '../recipes/index.js';
import { compileArgv } from '../toolchain/argv.js';
import { memoryFacts, parseCompileMemory } from '../toolchain/compile-log.js';
import { inputOf } from './convert.js';
import type { StepContext, StepKind } from './kind.js';

const CHAT_CONFIG = 'mlc-chat-config.json';

export const compile: StepKind<CompileNode> = {
  kind: 'compile',
  aliases: [],
  title: 'Libraries',
  shape: 'component',
  makes: 'library',
  ciStage: { builds: 'libraries', isDefault: true },
  usesToolchain: true,
  inputs: { config: 'mlc-chat-config.json (the part compile reads: early cutoff)' },
  resources: (node, ctx) => ctx.target(node.target).resources,

  async evaluate(node, ctx, outputsOf) {
    // Another machine's library: its host and toolchain, as that machine keys it.
    const foreign = ctx.foreign.get(node.target);
    if (foreign && !foreign.ok) return { kind: 'unavailable', reason: foreign.reason };
    const toolchain = foreign ? { ok: true as const, value: foreign.toolchain } : await ctx.toolchainDigest();
    if (!toolchain.ok) return { kind: 'unavailable', reason: `toolchain: ${toolchain.error}` };
    const chat = outputsOf(node.inputs.config)[CHAT_CONFIG];
    if (!chat) return { kind: 'unavailable', reason: `${node.inputs.config} recorded no ${CHAT_CONFIG}` };
    const target = ctx.target(node.target);
    // One config feeds many compiles: read and project it once per build.
    const relevant = await ctx.memo(`compile-config:${chat.digest}`, async () =>
      compileRelevantConfig(JSON.parse(await readFile(chat.path, 'utf8')) as Record<string, unknown>),
    );
    return {
      kind: 'action',
      fields: {
        step: 'compile',
        config: relevant,
        device: target.device,
        host: target.host ?? (recipes().fixedHostDevices.includes(target.device) ? undefined : (foreign?.host ?? `${process.platform}-${process.arch}`)),
        opt: target.opt,
        system_lib_prefix: systemLibPrefix(node, ctx),
        overrides: target.overrides,
        ext: target.ext,
        toolchain: toolchain.value,
        // The web runtime counts by content (wasm_runtime), not by where the checkout is: machines share results.
        env: Object.fromEntries(target.envReads.filter((k) => k !== 'MLC_LLM_SOURCE_DIR').map((k) => [k, envValue(ctx, target, k)])),
        wasm_runtime: await wasmRuntimeDigest(ctx, target),
      },
      action: { inputs: [inputOf(CHAT_CONFIG, chat)] },
    };
  },

  args(node, ctx, at) {
    const t = ctx.target(node.target);
    return compileArgv({
      config: at.input(CHAT_CONFIG),
      device: t.device,
      host: t.host,
      opt: t.opt,
      systemLibPrefix: systemLibPrefix(node, ctx),
      overrides: t.overrides,
      output: at.output,
    });
  },

  plannedPaths(node, ctx, show) {
    const config = ctx.graph.nodes.get(node.inputs.config);
    if (config?.kind !== 'config') throw new Error(`${node.id} has no config node`);
    const folder = show(config.outDir, { dir: true, input: true });
    const library = show(node.library);
    // mlc_llm compile does not create the library's folder.
    return { paths: { input: (name) => `${folder}${name ?? ''}`, output: library }, outputs: [library], setup: [['mkdir', '-p', show(dirname(node.library))]] };
  },

  env: (node, ctx) => ctx.target(node.target).env,
  outputName: (node) => basename(node.library),

  async check(node, outDir) {
    const name = basename(node.library);
    const st = await stat(join(outDir, name)).catch(() => undefined);
    if (!st?.isFile()) return `compile wrote no library at ${name}`;
    if (st.size === 0) return `compile wrote an empty library ${name}`;
    return undefined;
  },

  placements(node, _ctx, files) {
    return Object.values(files).map((f) => ({ dest: node.library, digest: f.digest, src: f.path }));
  },

  artifacts: (node) => [node.library],

  facts(_node, log) {
    const memory = parseCompileMemory(log);
    return memory ? memoryFacts(memory) : undefined;
  },
};

/**
 * mlc-chat-config.json as compile reads it: without the fields compile ignores (a deny-list, so a
 * field mlc_llm adds later counts by default). Equal projections build equal libraries: this is the
 * early cutoff that keeps a conv-template change from rebuilding libraries.
 */
export function compileRelevantConfig(config: Record<string, unknown>): Record<string, unknown> {
  const ignored = new Set(recipes().compileIgnoredFields);
  return Object.fromEntries(Object.entries(config).filter(([k]) => !ignored.has(k)));
}

/** The compile's explicit --system-lib-prefix for this cell, if the target sets one. */
export function systemLibPrefix(node: CompileNode, ctx: Pick<StepContext, 'target' | 'graph'>): string | undefined {
  const template = ctx.target(node.target).systemLibPrefix;
  if (template === undefined) return undefined;
  const config = ctx.graph.nodes.get(node.inputs.config);
  const tag = config?.kind === 'config' && !config.isBase ? config.variant : '';
  return systemLibPrefixFor(template, { model: node.model, quant: node.quant, tag, target: node.target });
}

/** The value a step for `target` sees for one variable. */
function envValue(ctx: StepContext, target: Target, name: string): string | undefined {
  return target.env[name] ?? ctx.stepEnv[name];
}

/** webgpu compiles link web/dist/wasm/mlc_wasm_runtime.bc from MLC_LLM_SOURCE_DIR: its content counts. */
async function wasmRuntimeDigest(ctx: StepContext, target: Target): Promise<string | undefined> {
  if (!target.device.startsWith('webgpu')) return undefined;
  const dir = envValue(ctx, target, 'MLC_LLM_SOURCE_DIR');
  if (!dir) return undefined;
  const bc = join(dir, 'web/dist/wasm/mlc_wasm_runtime.bc');
  ctx.observe(dirname(bc)); // its absence decides too
  return (await ctx.digest(bc).catch(() => undefined))?.digest;
}
