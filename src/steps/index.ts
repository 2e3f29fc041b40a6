// The registry of step kinds: the only place that maps a node's kind to what it does.
import type { StepNode } from '../graph/nodes.js';
import type { NodeKind } from '../recipes/index.js';
import { compile } from './compile.js';
import { config } from './config.js';
import { convert } from './convert.js';
import { download } from './download.js';
import type { StepKind } from './kind.js';

export type { Action, CommandPaths, Files, InputFile, KeyFields, KindEvaluation, Placement, StepContext, StepKind } from './kind.js';

const KINDS: { [K in NodeKind]: StepKind<Extract<StepNode, { kind: K }>> } = { download, convert, config, compile };

/** The kind of a node, typed for any node (each kind's functions take only its own nodes). */
export function kindOf(node: StepNode): StepKind {
  return KINDS[node.kind] as unknown as StepKind;
}

export function kindTitle(kind: NodeKind): string {
  return KINDS[kind].title;
}
