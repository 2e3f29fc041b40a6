// Step nodes of the build graph (DESIGN §2).
import type { GenOptions } from '../manifest/types.js';
import type { NodeKind } from '../recipes/index.js';

export type { NodeKind };

interface NodeBase {
  id: string;
  /** Ids of the nodes whose outputs this one reads. */
  deps: string[];
}

/** config.json, generation_config.json and tokenizer files (`meta`), or the weight files. */
export interface DownloadNode extends NodeBase {
  kind: 'download';
  part: 'meta' | 'weights';
  model: string;
}

/** `mlc_llm convert_weight`: one per model × quantization, shared by every target and variant. */
export interface ConvertNode extends NodeBase {
  kind: 'convert';
  model: string;
  quant: string;
  /** The base variant's folder, where the converted weights live. */
  outDir: string;
}

/** `mlc_llm gen_config`: one per model × quantization × distinct set of options. */
export interface ConfigNode extends NodeBase {
  kind: 'config';
  model: string;
  quant: string;
  /** "base" or the variant tag. */
  variant: string;
  isBase: boolean;
  options: GenOptions;
  outDir: string;
}

/** `mlc_llm compile`: one per matrix cell. */
export interface CompileNode extends NodeBase {
  kind: 'compile';
  cell: string;
  model: string;
  quant: string;
  target: string;
  config: string;
  library: string;
}

export type StepNode = DownloadNode | ConvertNode | ConfigNode | CompileNode;

export const downloadId = (model: string, part: 'meta' | 'weights'): string => `download:${model}/${part}`;
export const convertId = (model: string, quant: string): string => `convert:${model}/${quant}`;
export const configId = (model: string, quant: string, variant: string): string => `config:${model}/${quant}/${variant}`;
export const compileId = (cell: string): string => `compile:${cell}`;
