// What the engine needs to know of a step kind, declared once per kind (one module each beside
// this file). The engine (exec/), the commands (cli/) and the reports (report/) treat every kind
// through this interface; only the modules of this folder know what a kind does.
import type { BuildGraph } from '../graph/build.js';
import type { StepNode } from '../graph/nodes.js';
import type { Manifest, Model, Target } from '../manifest/types.js';
import type { PoolName } from '../recipes/index.js';
import type { NodeKind } from './names.js';
import type { Result } from '../result.js';
import type { KeyFields } from '../keys.js';
import type { Source, SourceFiles } from '../sources/source.js';
import type { FileDigest } from '../store/hash.js';
import type { Placement } from '../store/outputs.js';
import type { Files } from '../store/store.js';
import type { ForeignKey } from '../toolchain/managed/foreign.js';

export type { Files, Placement };

export type { KeyFields } from '../keys.js';

/** A file a step may read: its name in the step's view, where a readable copy is, and its digest. */
export interface InputFile {
  name: string;
  path: string;
  digest: string;
}

/** Paths a command is written with: the step's view and staging output, or the out/ layout. */
export interface CommandPaths {
  /** The folder holding the step's inputs, or (given a name) one input file in it. */
  input(name?: string): string;
  /** The step's output: a folder for convert and gen_config, a file for compile. */
  output: string;
}

/** A step to run: the inputs it sees, and what must be true of its outputs. */
export interface Action {
  /** Files linked into the step's view, the only inputs it sees. */
  inputs: InputFile[];
}

/** What a kind makes of a node, given its dependencies' outputs. */
export type KindEvaluation =
  /** Cannot be evaluated or produced here. */
  | { kind: 'unavailable'; reason: string }
  /** A source not on this machine yet (or not pinned yet): it must be fetched. */
  | { kind: 'fetch'; reason: string }
  /** A source whose files are here. */
  | { kind: 'source'; found: SourceFiles }
  /** A step whose key is known: the engine finds it fresh, in the cache, or runs it. */
  | { kind: 'action'; fields: KeyFields; action: Action };

/** What a kind may ask of the build it belongs to. */
export interface StepContext {
  readonly manifest: Manifest;
  readonly graph: BuildGraph;
  /** The environment steps inherit (the hub token and other secrets withheld). */
  readonly stepEnv: NodeJS.ProcessEnv;
  model(id: string): Model;
  target(name: string): Target;
  source(model: string): Source;
  /** The toolchain fingerprint's digest, or why the toolchain cannot run. */
  toolchainDigest(): Promise<Result<string, string>>;
  /** A file's digest through the stat cache. */
  digest(path: string): Promise<FileDigest>;
  /** A folder whose listing decided something (the no-op stamp watches it). */
  observe(dir: string): void;
  /**
   * Targets this machine cannot build whose results may still be looked up (release, matrix
   * --only-missing): the host and toolchain their keys have on the machine that builds them.
   */
  readonly foreign: ReadonlyMap<string, ForeignKey>;
  /** The nodes this command builds (or would build): a variant folder takes converted weights only with its config. Unset: every node. */
  readonly building: ReadonlySet<string> | undefined;
  /** Values computed once per build and shared by nodes (one mlc-chat-config.json feeds many compiles). */
  memo<T>(key: string, make: () => Promise<T>): Promise<T>;
}

/** What a kind's nodes make: what callers ask instead of testing a kind's name. */
export type KindProduct = 'source files' | 'weights' | 'chat config' | 'library';

/** Graphviz node shapes the kinds use. */
export type DotShape = 'box' | 'box3d' | 'component' | 'cylinder' | 'folder' | 'note' | 'tab';

/** What is known of a kind without a node: how users name it, how it is shown, what it makes. */
export interface KindFacts<K extends NodeKind = NodeKind> {
  /** Its name: node ids start with it, `step=` and the manifest's per-kind settings take it. */
  readonly kind: K;
  /** Other spellings `step=` accepts for it (mlc_llm's subcommand names). */
  readonly aliases: readonly string[];
  /** The heading of its section in `plan`. */
  readonly title: string;
  /** Its nodes' shape in `graph --format dot`; every format labels a node with its id, as selectors take it. */
  readonly shape: DotShape;
  readonly makes: KindProduct;
  /** A CI stage of its own (`matrix --stage NAME`): what the stage builds, and whether it is the default. */
  readonly ciStage?: { readonly builds: string; readonly isDefault: boolean };
  /** True for steps that run mlc_llm (a missing toolchain blocks them before the build starts). */
  readonly usesToolchain: boolean;
}

export interface StepKind<N extends StepNode = StepNode> extends KindFacts<N['kind']> {
  /** The dependencies it reads, by role (the node's `inputs` hold their ids): what each brings. */
  readonly inputs: { readonly [Role in keyof N['inputs']]: string };
  /** The pool and slots a node takes beyond the kind's defaults (recipes/pools.json, manifest `resources:`). */
  resources(node: N, ctx: Pick<StepContext, 'target'>): { pool?: PoolName; slots?: number } | undefined;
  /** `outputsOf` gives a dependency's outputs by its id (one of `node.inputs`). */
  evaluate(node: N, ctx: StepContext, outputsOf: (id: string) => Files): Promise<KindEvaluation>;
  /** Downloads the node's files (sources only). */
  fetch?(node: N, ctx: StepContext, opts: { signal: AbortSignal; onProgress: (bytes: number, total: number) => void }): Promise<Result<SourceFiles, string>>;
  /**
   * The mlc_llm arguments (after the toolchain's own argv) for the given paths: the build passes
   * the step's view and staging output, `plan` the out/ layout. Null for kinds that run no command.
   */
  args(node: N, ctx: StepContext, at: CommandPaths): string[] | null;
  /**
   * The out/ layout for `plan`: the command's paths (none for kinds without a command), the
   * outputs it names and commands a user must run first (`mkdir -p`), given how to write a path.
   */
  plannedPaths(
    node: N,
    ctx: StepContext,
    show: (abs: string, opts?: { dir?: boolean; input?: boolean }) => string,
  ): { paths?: CommandPaths; outputs: string[]; setup?: string[][] };
  /** Environment variables the step gets on top of the build's (a target's `env:`). */
  env(node: N, ctx: StepContext): Record<string, string>;
  /** The step's output inside its staging output folder: '' for the folder itself, else a file name. */
  outputName(node: N): string;
  /** Why the outputs in `outDir` are incomplete, if they are. */
  check(node: N, outDir: string): Promise<string | undefined>;
  /** Where a node's outputs go in out/. */
  placements(node: N, ctx: StepContext, files: Files): readonly Placement[];
  /** The artifacts under out/ the node contributes to (folders end with "/"), for `status`. */
  artifacts(node: N, ctx: StepContext): string[];
  /** Figures worth keeping from a successful run's log (kept in its record). */
  facts?(node: N, log: string): Record<string, number> | undefined;
  /** Bytes the node will write when it runs, if it can be known before (doctor's disk check). */
  bytesToWrite?(node: N, ctx: StepContext): number | undefined;
}

/** A kind's function with the node argument bound. */
type BoundTo<F> = F extends (node: never, ...rest: infer A) => infer R ? (...rest: A) => R : F;

/** A node with its kind: the kind's facts, and its functions called for this node. */
export type Step = { readonly node: StepNode } & { readonly [P in keyof StepKind]: BoundTo<StepKind[P]> };
