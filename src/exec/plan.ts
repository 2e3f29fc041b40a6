// The plan: for each selected node, its state, why, the mlc_llm command it runs (paths in the out/
// layout, as a user would type them) and its outputs. Planning reads no network and runs nothing.
import { stepOf, type NodeKind } from '../steps/index.js';
import type { StepNode } from '../graph/nodes.js';
import type { Files } from '../store/store.js';
import type { BuildContext } from './context.js';
import { describe, evaluate, readableOutputs, type Evaluation, type NodeState } from './evaluate.js';

export type { NodeState } from './evaluate.js';

export interface PlannedNode {
  id: string;
  kind: NodeKind;
  deps: string[];
  state: NodeState;
  reason: string;
  argv: string[] | null;
  env: Record<string, string>;
  outputs: string[];
  /** Commands to run before this one by hand (`mkdir -p` of a folder the command does not create). */
  setup: string[][];
}

export interface Plan {
  root: string;
  nodes: PlannedNode[];
}

/** Evaluates every node of the graph in order, calling `visit` for the selected ones. */
export async function evaluateAll(
  ctx: BuildContext,
  selected: ReadonlySet<string>,
  visit: (id: string, ev: Evaluation) => Promise<void> | void,
): Promise<void> {
  const available = new Map<string, Files>();
  for (const node of ctx.graph.nodes.values()) {
    if (!selected.has(node.id)) continue;
    const ev = await evaluate(ctx, node, available);
    const files = readableOutputs(ev);
    if (files) available.set(node.id, files);
    await visit(node.id, ev);
  }
}

/** `unavailable`: nodes this host cannot build, with why (host-aware builds skip them). */
export async function makePlan(ctx: BuildContext, selected: ReadonlySet<string>, unavailable: ReadonlyMap<string, string> = new Map()): Promise<Plan> {
  const nodes: PlannedNode[] = [];
  // What a build of the same selection builds here: the plan's placements are the build's.
  ctx.building = new Set([...selected].filter((id) => !unavailable.has(id)));
  await evaluateAll(ctx, selected, async (id, ev) => {
    const node = ctx.graph.nodes.get(id);
    if (!node) return;
    const { state, reason } = await stateOf(ctx, node, ev, unavailable.get(id));
    nodes.push({ id, kind: node.kind, deps: node.deps, state, reason, ...commandOf(ctx, id) });
  });
  return { root: ctx.manifest.root, nodes };
}

/** A node's state and why; `unavailable`: why this host cannot build it. */
async function stateOf(ctx: BuildContext, node: StepNode, ev: Evaluation, unavailable: string | undefined): Promise<{ state: NodeState; reason: string }> {
  if (unavailable === undefined) return describe(ctx, node, ev);
  // Still fresh when its outputs are here (built with --all-hosts): one answer per question. Only
  // a placed output can be fresh; most nodes of a host-aware plan are not, and skip describe().
  const placed = ev.kind === 'source' ? ev.fresh : ev.kind === 'step' && ev.placed;
  const described = placed ? await describe(ctx, node, ev) : undefined;
  return described?.state === 'fresh' ? described : { state: 'unavailable', reason: unavailable };
}

/** The command a node runs, written with the out/ layout's paths. */
export function commandOf(ctx: BuildContext, id: string): Pick<PlannedNode, 'argv' | 'env' | 'outputs' | 'setup'> {
  const node = ctx.graph.nodes.get(id);
  if (!node) throw new Error(`no node ${id}`);
  const step = stepOf(node);
  // The seed writes inputs as ./dist/models/X/ and outputs as dist/X-MLC.
  const show = (abs: string, o: { dir?: boolean; input?: boolean } = {}) => {
    const p = ctx.display(abs) + (o.dir ? '/' : '');
    return o.input && !p.startsWith('../') ? `./${p}` : p;
  };
  const planned = step.plannedPaths(ctx, show);
  const args = planned.paths ? step.args(ctx, planned.paths) : null;
  return { argv: args ? [...ctx.toolchain.argv, ...args] : null, env: args ? step.env(ctx) : {}, outputs: planned.outputs, setup: planned.setup ?? [] };
}

export function countStates(plan: Plan): Record<NodeState, number> {
  const counts: Record<NodeState, number> = { fresh: 0, cached: 0, stale: 0, missing: 0, unavailable: 0 };
  for (const n of plan.nodes) counts[n.state]++;
  return counts;
}
