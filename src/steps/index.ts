// The registry of step kinds: the only place that maps a node's kind to what it does, and the
// source of every list of kinds (step= aliases, graph shapes, plan's sections, matrix --stage, the
// manifest's per-kind settings and its JSON schema).
//
// Adding a step kind (say `verify`):
//   1. its name in NODE_KINDS (names.ts), where the pipeline runs it; the manifest's `resources:`
//      and `watch.supersede:` take it from there (then `npm run schema`);
//   2. its node type in graph/nodes.ts (its `inputs` by role) and where graph/build.ts adds its nodes;
//   3. one module here, `verify.ts`: a StepKind (aliases, title, shape, what it makes, named
//      inputs, pool, key fields, argv, output check, placements…);
//   4. its entry in KINDS below (the compiler asks for it once the name is in NODE_KINDS);
//   5. its pools, slots and expected time in recipes/pools.json (`steps`).
import type { StepNode } from '../graph/nodes.js';
import { compile } from './compile.js';
import { config } from './config.js';
import { convert } from './convert.js';
import { download } from './download.js';
import type { KindFacts, Step, StepKind } from './kind.js';
import { NODE_KINDS, type NodeKind } from './names.js';

export type {
  Action,
  CommandPaths,
  DotShape,
  Files,
  InputFile,
  KeyFields,
  KindEvaluation,
  KindFacts,
  KindProduct,
  Placement,
  Step,
  StepContext,
  StepKind,
} from './kind.js';
export { isNodeKind, kindOfNodeId, NODE_KINDS, perKind, type NodeKind } from './names.js';

type NodeOf<K extends NodeKind> = Extract<StepNode, { kind: K }>;

// One entry per name in NODE_KINDS, for the node type of that kind (a kind without a node type
// cannot be entered; a node type whose kind is not in NODE_KINDS fails in stepOf).
const KINDS: { readonly [K in NodeKind]: StepKind<NodeOf<K>> } = { download, convert, config, compile };

/** What is known of a kind without a node. */
export function kindFacts(kind: NodeKind): KindFacts {
  return KINDS[kind];
}

/** A node with its kind's functions bound to it. */
export function stepOf(node: StepNode): Step {
  return bindKind(node.kind, node);
}

// `kind` and `node` agree (the node's own kind): indexing KINDS by the same K types the pair.
function bindKind<K extends NodeKind>(kind: K, node: NodeOf<K>): Step {
  return bind(KINDS[kind], node);
}

function bind<N extends StepNode>(kind: StepKind<N>, node: N): Step {
  const fetch = kind.fetch?.bind(kind);
  const facts = kind.facts?.bind(kind);
  const bytesToWrite = kind.bytesToWrite?.bind(kind);
  return {
    ...kind,
    node,
    resources: (ctx) => kind.resources(node, ctx),
    evaluate: (ctx, outputsOf) => kind.evaluate(node, ctx, outputsOf),
    fetch: fetch && ((ctx, opts) => fetch(node, ctx, opts)),
    args: (ctx, at) => kind.args(node, ctx, at),
    plannedPaths: (ctx, show) => kind.plannedPaths(node, ctx, show),
    env: (ctx) => kind.env(node, ctx),
    outputName: () => kind.outputName(node),
    check: (outDir) => kind.check(node, outDir),
    placements: (ctx, files) => kind.placements(node, ctx, files),
    artifacts: (ctx) => kind.artifacts(node, ctx),
    facts: facts && ((log) => facts(node, log)),
    bytesToWrite: bytesToWrite && ((ctx) => bytesToWrite(node, ctx)),
  };
}

/** The kinds `matrix --stage` runs as CI stages of their own, and what each builds: the default first. */
export function ciStages(): { kind: NodeKind; builds: string }[] {
  const stages = NODE_KINDS.flatMap((kind) => {
    const stage = KINDS[kind].ciStage;
    return stage ? [{ kind, builds: stage.builds, isDefault: stage.isDefault }] : [];
  });
  return [...stages.filter((s) => s.isDefault), ...stages.filter((s) => !s.isDefault)].map(({ kind, builds }) => ({ kind, builds }));
}

/** The kinds `step=` accepts, by every spelling it accepts (names first, then aliases, kind by kind). */
export function stepSpellings(): Map<string, NodeKind> {
  return new Map(NODE_KINDS.flatMap((kind) => [kind, ...KINDS[kind].aliases].map((spelling) => [spelling, kind] as const)));
}
