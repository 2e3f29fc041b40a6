// Step nodes of the build graph (DESIGN §2).
import { InternalError } from '../must.js';
import type { GenOptions } from '../manifest/types.js';
import type { NodeKind } from '../steps/names.js';

export type { NodeKind };

interface NodeBase {
  id: string;
  /** The ids of the nodes whose outputs this one reads, by the role its kind reads them in. */
  inputs: Record<string, string>;
  /** The same ids, in the order of `inputs`: the graph's edges. */
  deps: string[];
}

/** config.json, generation_config.json and tokenizer files (`meta`), or the weight files. */
export interface DownloadNode extends NodeBase {
  kind: 'download';
  /** None: a source reads no other node. */
  inputs: Record<string, never>;
  part: 'meta' | 'weights';
  model: string;
}

/** `mlc_llm convert_weight`: one per model × quantization, shared by every target and variant. */
export interface ConvertNode extends NodeBase {
  kind: 'convert';
  inputs: { meta: string; weights: string };
  model: string;
  quant: string;
  /** The base variant's folder, where the converted weights live. */
  outDir: string;
}

/** `mlc_llm gen_config`: one per model × quantization × distinct set of options. */
export interface ConfigNode extends NodeBase {
  kind: 'config';
  inputs: { meta: string };
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
  inputs: { config: string };
  library: string;
}

export type StepNode = DownloadNode | ConvertNode | ConfigNode | CompileNode;

/** A node's edges: the ids of its inputs. */
export const depsOf = (inputs: Record<string, string>): string[] => Object.values(inputs);

export const downloadId = (model: string, part: 'meta' | 'weights'): string => `download:${model}/${part}`;
export const convertId = (model: string, quant: string): string => `convert:${model}/${quant}`;
export const configId = (model: string, quant: string, variant: string): string => `config:${model}/${quant}/${variant}`;
export const compileId = (cell: string): string => `compile:${cell}`;

/** The node `id`, which the graph's own construction says is of `kind`; anything else is a bug, named. */
export function nodeOfKind<K extends StepNode['kind']>(nodes: ReadonlyMap<string, StepNode>, id: string, kind: K): Extract<StepNode, { kind: K }> {
  const node = nodes.get(id);
  if (node && isKind(node, kind)) return node;
  throw new InternalError(`internal: ${id} is not a ${kind} node of the graph`);
}

function isKind<K extends StepNode['kind']>(node: StepNode, kind: K): node is Extract<StepNode, { kind: K }> {
  return node.kind === kind;
}
