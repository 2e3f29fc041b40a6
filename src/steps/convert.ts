// convert:<model>/<quant>: `mlc_llm convert_weight`, once per model × quantization, shared by every
// target and config variant; its shards are placed into every weights folder of the pair.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ConvertNode } from '../graph/nodes.js';
import { recipes } from '../recipes/index.js';
import { isWeightFile } from '../sources/files.js';
import { digestsOf } from '../sources/source.js';
import { convertWeightArgv } from '../toolchain/argv.js';
import { convertedBytes } from '../toolchain/host-checks.js';
import type { Files, InputFile, StepContext, StepKind } from './kind.js';
import { isFile, readJson } from './outputs.js';
import { must } from '../must.js';

export const convert: StepKind<ConvertNode> = {
  kind: 'convert',
  aliases: ['convert_weight'],
  title: 'Weight conversions',
  shape: 'box3d',
  makes: 'weights',
  ciStage: { builds: 'weights', isDefault: false },
  usesToolchain: true,
  inputs: {
    meta: 'config.json, for its digest (the model type, the source dtype)',
    weights: 'the weight files to convert',
  },
  resources: () => undefined,

  async evaluate(node, ctx, outputsOf) {
    const toolchain = await ctx.toolchainDigest();
    if (!toolchain.ok) return { kind: 'unavailable', reason: `toolchain: ${toolchain.error}` };
    const model = ctx.model(node.model);
    const meta = outputsOf(node.inputs.meta);
    const weights = outputsOf(node.inputs.weights);
    const config = meta['config.json'];
    return {
      kind: 'action',
      fields: {
        step: 'convert_weight',
        quantization: node.quant,
        model_type: model.modelType,
        source_format: model.sourceFormat,
        config_json: config?.digest,
        weights: digestsOf(weights),
        toolchain: toolchain.value,
        env: { MLC_INTERNAL_PRESHARD_NUM: ctx.stepEnv.MLC_INTERNAL_PRESHARD_NUM },
      },
      action: { inputs: [...(config ? [inputOf('config.json', config)] : []), ...Object.entries(weights).map(([n, f]) => inputOf(n, f))] },
    };
  },

  args(node, ctx, at) {
    const model = ctx.model(node.model);
    return convertWeightArgv({ source: at.input(), quant: node.quant, modelType: model.modelType, sourceFormat: model.sourceFormat, output: at.output });
  },

  plannedPaths(node, ctx, show) {
    const snapshot = must(ctx.graph.snapshotDirs, node.model, 'snapshot folder of the model');
    const out = show(node.outDir);
    return {
      paths: { input: () => show(snapshot, { dir: true, input: true }), output: out },
      outputs: [`${out}/tensor-cache.json`, `${out}/params_shard_*.bin`],
    };
  },

  env: () => ({}),
  outputName: () => '',

  async check(_node, outDir) {
    const cache = await readJson(join(outDir, 'tensor-cache.json'));
    if (typeof cache === 'string') return `convert_weight wrote no valid tensor-cache.json (${cache})`;
    const records = (cache as { records?: { dataPath?: unknown }[] }).records;
    if (!Array.isArray(records) || records.length === 0) return 'tensor-cache.json lists no shards';
    for (const r of records) {
      if (typeof r.dataPath !== 'string' || !(await isFile(join(outDir, r.dataPath))))
        return `tensor-cache.json lists ${String(r.dataPath)}, which convert_weight did not write`;
    }
    return undefined;
  },

  placements(node, ctx, files) {
    return weightsFolders(node, ctx).flatMap((dir) => Object.entries(files).map(([n, f]) => ({ dest: join(dir, n), digest: f.digest, src: f.path })));
  },

  artifacts: (node, ctx) => weightsFolders(node, ctx).map((d) => `${d}/`),

  /** Source weight bytes ÷ bytes per source weight × bits per converted weight. */
  bytesToWrite(node, ctx) {
    const folder = ctx.source(node.model).folder();
    const bpw = recipes().quantizations.find((q) => q.name === node.quant)?.bits_per_weight_on_disk;
    const weights = folder ? weightBytes(folder) : undefined;
    return weights === undefined || bpw === undefined ? undefined : convertedBytes(weights.bytes, weights.dtype, bpw);
  },
};

/**
 * Where its weights go: the base folder, and each variant folder whose config this command builds
 * too. A folder is placed whole or not at all: never weights without their mlc-chat-config.json
 * (a variant only a cell this host cannot build uses gets neither).
 */
function weightsFolders(node: ConvertNode, ctx: StepContext): string[] {
  const building = ctx.building;
  return (ctx.graph.weightsDirs.get(node.id) ?? []).filter((f) => f.isBase || building === undefined || building.has(f.config)).map((f) => f.dir);
}

export function inputOf(name: string, f: Files[string]): InputFile {
  return { name, path: f.path, digest: f.digest };
}

function weightBytes(folder: string): { bytes: number; dtype?: string } | undefined {
  let bytes = 0;
  try {
    for (const name of readdirSync(folder)) if (isWeightFile(name) && !name.endsWith('.json')) bytes += statSync(join(folder, name)).size;
  } catch {
    return undefined;
  }
  if (bytes === 0) return undefined;
  let dtype: string | undefined;
  try {
    dtype = (JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as { torch_dtype?: string }).torch_dtype;
  } catch {
    // no config.json: assume 16-bit
  }
  return { bytes, dtype };
}
