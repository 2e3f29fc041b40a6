// config:<model>/<quant>/<variant>: `mlc_llm gen_config`, one per distinct set of gen_config
// options; reads the small meta files only, never the weights.
import { join } from 'node:path';
import type { ConfigNode } from '../graph/nodes.js';
import { digestsOf } from '../sources/source.js';
import { genConfigArgv } from '../toolchain/argv.js';
import { inputOf } from './convert.js';
import type { StepKind } from './kind.js';
import { isFile, readJson } from './outputs.js';
import { must } from '../must.js';

export const config: StepKind<ConfigNode> = {
  kind: 'config',
  aliases: ['gen_config'],
  title: 'Chat configs',
  shape: 'note',
  makes: 'chat config',
  usesToolchain: true,
  inputs: { meta: 'config.json, generation_config.json and the tokenizer files (never the weights)' },
  resources: () => undefined,

  async evaluate(node, ctx, outputsOf) {
    const toolchain = await ctx.toolchainDigest();
    if (!toolchain.ok) return { kind: 'unavailable', reason: `toolchain: ${toolchain.error}` };
    const model = ctx.model(node.model);
    const meta = outputsOf(node.inputs.meta);
    return {
      kind: 'action',
      fields: {
        step: 'gen_config',
        quantization: node.quant,
        model_type: model.modelType,
        conv_template: model.convTemplate,
        options: node.options,
        files: digestsOf(meta),
        toolchain: toolchain.value,
      },
      action: { inputs: Object.entries(meta).map(([n, f]) => inputOf(n, f)) },
    };
  },

  args(node, ctx, at) {
    const model = ctx.model(node.model);
    return genConfigArgv({
      source: at.input(),
      quant: node.quant,
      modelType: model.modelType,
      convTemplate: model.convTemplate,
      options: node.options,
      output: at.output,
    });
  },

  plannedPaths(node, ctx, show) {
    const snapshot = must(ctx.graph.snapshotDirs, node.model, 'snapshot folder of the model');
    return {
      paths: { input: () => show(snapshot, { dir: true, input: true }), output: show(node.outDir, { dir: true }) },
      outputs: [`${show(node.outDir)}/mlc-chat-config.json`],
    };
  },

  env: () => ({}),
  outputName: () => '',

  async check(_node, outDir) {
    const config = await readJson(join(outDir, 'mlc-chat-config.json'));
    if (typeof config === 'string') return `gen_config wrote no valid mlc-chat-config.json (${config})`;
    const files = (config as { tokenizer_files?: unknown }).tokenizer_files;
    for (const f of Array.isArray(files) ? files : []) {
      if (typeof f !== 'string' || !(await isFile(join(outDir, f))))
        return `mlc-chat-config.json lists tokenizer file ${String(f)}, which gen_config did not write`;
    }
    return undefined;
  },

  placements(node, _ctx, files) {
    return Object.entries(files).map(([n, f]) => ({ dest: join(node.outDir, n), digest: f.digest, src: f.path }));
  },

  artifacts: (node) => [`${node.outDir}/`],
};
