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
import type { CommandPaths, DotShape, Files, KindEvaluation, KindFacts, KindProduct, Placement, Step, StepContext, StepKind } from './kind.js';
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

/** The last placements computed for a node's outputs (the objects a build passes around unchanged). */
const placementsMemo = new WeakMap<Files, { node: StepNode; ctx: StepContext; placements: readonly Placement[] }>();

/** A node with its kind's functions bound to it. */
export function stepOf(node: StepNode): Step {
  return bindKind(node.kind, node);
}

// `kind` and `node` agree (the node's own kind): indexing KINDS by the same K types the pair.
function bindKind<K extends NodeKind>(kind: K, node: NodeOf<K>): Step {
  return bind(KINDS[kind], node);
}

function bind<N extends StepNode>(kind: StepKind<N>, node: N): Step {
  return new BoundStep(kind, node);
}

/**
 * A node with its kind's functions: one small object whose methods live on the prototype, so
 * asking for a node's step (plan and build do, for every node, many times) makes no closures.
 */
class BoundStep<N extends StepNode> implements Step {
  constructor(
    private readonly of: StepKind<N>,
    readonly node: N,
  ) {}

  get kind(): N['kind'] {
    return this.of.kind;
  }
  get aliases(): readonly string[] {
    return this.of.aliases;
  }
  get title(): string {
    return this.of.title;
  }
  get shape(): DotShape {
    return this.of.shape;
  }
  get makes(): KindProduct {
    return this.of.makes;
  }
  get ciStage(): KindFacts['ciStage'] {
    return this.of.ciStage;
  }
  get usesToolchain(): boolean {
    return this.of.usesToolchain;
  }
  get inputs(): StepKind['inputs'] {
    return this.of.inputs;
  }
  // The kind's optional functions, bound only when asked for (downloads fetch, compiles have facts).
  get fetch(): Step['fetch'] {
    const { of, node } = this;
    return of.fetch === undefined ? undefined : (ctx, opts) => of.fetch?.(node, ctx, opts) ?? Promise.reject(new Error(`${node.id}: its kind cannot fetch`));
  }
  get facts(): Step['facts'] {
    const { of, node } = this;
    return of.facts === undefined ? undefined : (log) => of.facts?.(node, log);
  }
  get bytesToWrite(): Step['bytesToWrite'] {
    const { of, node } = this;
    return of.bytesToWrite === undefined ? undefined : (ctx) => of.bytesToWrite?.(node, ctx);
  }
  resources(ctx: Pick<StepContext, 'target'>): ReturnType<Step['resources']> {
    return this.of.resources(this.node, ctx);
  }
  evaluate(ctx: StepContext, outputsOf: (id: string) => Files): Promise<KindEvaluation> {
    return this.of.evaluate(this.node, ctx, outputsOf);
  }
  args(ctx: StepContext, at: CommandPaths): string[] | null {
    return this.of.args(this.node, ctx, at);
  }
  plannedPaths(ctx: StepContext, show: Parameters<Step['plannedPaths']>[1]): ReturnType<Step['plannedPaths']> {
    return this.of.plannedPaths(this.node, ctx, show);
  }
  env(ctx: StepContext): Record<string, string> {
    return this.of.env(this.node, ctx);
  }
  outputName(): string {
    return this.of.outputName(this.node);
  }
  check(outDir: string): Promise<string | undefined> {
    return this.of.check(this.node, outDir);
  }
  placements(ctx: StepContext, files: Files): readonly Placement[] {
    // Asked several times per node in a build (deciding, placing, reporting, sweeping) with the same
    // outputs; a restore of thousands of files would build every path four times.
    const known = placementsMemo.get(files);
    if (known?.node === this.node && known.ctx === ctx) return known.placements;
    const placements = this.of.placements(this.node, ctx, files);
    placementsMemo.set(files, { node: this.node, ctx, placements });
    return placements;
  }
  artifacts(ctx: StepContext): string[] {
    return this.of.artifacts(this.node, ctx);
  }
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
