// What each mlc_llm step reads, runs and must write. The executor runs every step the same way:
// link the inputs into a view, run argv in a staging folder, check the outputs, record them.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigNode, ConvertNode } from '../graph/nodes.js';
import type { Model, Target } from '../manifest/types.js';
import { compileArgv, convertWeightArgv, genConfigArgv } from '../toolchain/argv.js';

/** A file a step may read: its name in the view, where a readable copy is, and its digest. */
export interface InputFile {
  name: string;
  path: string;
  digest: string;
}

export interface StepSpec {
  /** Files linked into `<staging>/in/`, the only inputs the step sees. */
  inputs: InputFile[];
  /** The command, given the view folder and the output path. */
  argv(view: string, out: string): string[];
  /** The output path inside `<staging>/out/` (a folder for convert and gen_config, a file for compile). */
  output: string;
  /** Why the outputs are incomplete, if they are. */
  check(outDir: string): Promise<string | undefined>;
}

export function convertStep(node: ConvertNode, model: Model, configJson: InputFile, weights: InputFile[]): StepSpec {
  return {
    inputs: [configJson, ...weights],
    argv: (view, out) => convertWeightArgv({ source: view, quant: node.quant, modelType: model.modelType, sourceFormat: model.sourceFormat, output: out }),
    output: '',
    async check(outDir) {
      const cache = await readJson(join(outDir, 'tensor-cache.json'));
      if (typeof cache === 'string') return `convert_weight wrote no valid tensor-cache.json (${cache})`;
      const records = (cache as { records?: { dataPath?: unknown }[] }).records;
      if (!Array.isArray(records) || records.length === 0) return 'tensor-cache.json lists no shards';
      for (const r of records) {
        if (typeof r.dataPath !== 'string' || !(await isFile(join(outDir, r.dataPath)))) return `tensor-cache.json lists ${String(r.dataPath)}, which convert_weight did not write`;
      }
      return undefined;
    },
  };
}

export function genConfigStep(node: ConfigNode, model: Model, meta: InputFile[]): StepSpec {
  return {
    inputs: meta,
    argv: (view, out) => genConfigArgv({ source: view, quant: node.quant, modelType: model.modelType, convTemplate: model.convTemplate, options: node.options, output: out }),
    output: '',
    async check(outDir) {
      const config = await readJson(join(outDir, 'mlc-chat-config.json'));
      if (typeof config === 'string') return `gen_config wrote no valid mlc-chat-config.json (${config})`;
      const files = (config as { tokenizer_files?: unknown }).tokenizer_files;
      for (const f of Array.isArray(files) ? files : []) {
        if (typeof f !== 'string' || !(await isFile(join(outDir, f)))) return `mlc-chat-config.json lists tokenizer file ${String(f)}, which gen_config did not write`;
      }
      return undefined;
    },
  };
}

export function compileStep(target: Target, chatConfig: InputFile, libraryName: string): StepSpec {
  return {
    inputs: [chatConfig],
    argv: (view, out) =>
      compileArgv({ config: join(view, 'mlc-chat-config.json'), device: target.device, host: target.host, opt: target.opt, systemLibPrefix: target.systemLibPrefix, overrides: target.overrides, output: out }),
    output: libraryName,
    async check(outDir) {
      const st = await stat(join(outDir, libraryName)).catch(() => undefined);
      if (!st?.isFile()) return `compile wrote no library at ${libraryName}`;
      if (st.size === 0) return `compile wrote an empty library ${libraryName}`;
      return undefined;
    },
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
