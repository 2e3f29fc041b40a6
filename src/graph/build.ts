// src/graph/ owns the step graph: nodes and their ids (nodes.ts), names of outputs (naming.ts),
// selectors (select.ts) and rendering (render.ts). It runs nothing.
//
// Manifest → step graph. Sharing is structural: one download pair per model, one convert per
// model × quantization, one config per distinct option set, one compile per cell. Configs and
// compiles depend on the small `meta` download only, never on weights.
import { join } from 'node:path';
import { Graph } from '@dagrejs/graphlib';
import { error, type Diagnostic } from '../manifest/diagnostic.js';
import { layer } from '../manifest/layers.js';
import type { Path } from '../manifest/source.js';
import type { Cell, Manifest, Model, Target } from '../manifest/types.js';
import { err, ok, type Result } from '../result.js';
import { libraryName, optionsKey, variantTag, weightsFolderName } from './naming.js';
import { compileId, configId, convertId, depsOf, downloadId, type CompileNode, type ConfigNode, type StepNode } from './nodes.js';

export const LIBS_DIR = 'libs';
export const MODELS_DIR = 'models';

export interface CellNodes {
  compile: string;
  config: string;
  baseConfig: string;
  convert: string;
}

export interface WeightsFolder {
  dir: string;
  /** The config node whose mlc-chat-config.json completes the folder. */
  config: string;
  isBase: boolean;
}

export interface BuildGraph {
  /** Nodes in a topological order: downloads, converts, configs, compiles; manifest order within. */
  nodes: Map<string, StepNode>;
  /** The same nodes and edges as a graphlib Graph, for graph algorithms. */
  readonly graph: Graph<unknown, StepNode>;
  cells: Map<string, CellNodes>;
  /** Where each model's source files are read from (a local folder, or the materialised snapshot). */
  snapshotDirs: Map<string, string>;
  /** Per convert node: every weights folder (base and variants) its shards may go into, with the config node that completes it. */
  weightsDirs: Map<string, WeightsFolder[]>;
}

export function buildGraph(manifest: Manifest): Result<BuildGraph, Diagnostic[]> {
  const builder = new GraphBuilder(manifest);
  const models = new Map(manifest.models.map((m) => [m.id, m]));
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  const usedModels = new Set(manifest.cells.map((c) => c.model));
  for (const model of manifest.models) if (usedModels.has(model.id)) builder.addDownloads(model);
  for (const cell of manifest.cells) {
    const model = models.get(cell.model);
    const target = targets.get(cell.target);
    if (!model || !target) throw new Error(`cell ${cell.id} names an unknown model or target`);
    builder.addCell(cell, model, target);
  }
  return builder.finish();
}

/** The nodes of one manifest, added cell by cell, each shared node made once; collisions become diagnostics. */
class GraphBuilder {
  private readonly diags: Diagnostic[] = [];
  private readonly downloads: StepNode[] = [];
  private readonly converts = new Map<string, StepNode>();
  private readonly configs = new Map<string, ConfigNode>();
  private readonly configByOptions = new Map<string, ConfigNode>();
  private readonly compiles: CompileNode[] = [];
  private readonly cells = new Map<string, CellNodes>();
  private readonly snapshotDirs = new Map<string, string>();
  private readonly weightsOwners = new Map<string, { node: string; path: Path }>();
  private readonly libraryOwners = new Map<string, { cell: string; path: Path }>();

  constructor(private readonly manifest: Manifest) {}

  addDownloads(model: Model): void {
    this.snapshotDirs.set(model.id, model.source.kind === 'local' ? model.source.path : join(this.manifest.out, MODELS_DIR, model.id));
    for (const part of ['meta', 'weights'] as const)
      this.downloads.push({ kind: 'download', part, model: model.id, id: downloadId(model.id, part), inputs: {}, deps: [] });
  }

  addCell(cell: Cell, model: Model, target: Target): void {
    const base = this.configFor(model, cell.quant, undefined);
    this.addConvert(model, cell.quant, base);
    const config = this.configFor(model, cell.quant, cell);
    const compile = this.addCompile(cell, model, target, config);
    this.cells.set(cell.id, { compile: compile.id, config: config.id, baseConfig: base.id, convert: convertId(model.id, cell.quant) });
  }

  finish(): Result<BuildGraph, Diagnostic[]> {
    if (this.diags.length > 0) return err(this.diags);
    const nodes = new Map<string, StepNode>();
    for (const n of [...this.downloads, ...this.converts.values(), ...this.configs.values(), ...this.compiles]) nodes.set(n.id, n);
    const weightsDirs = new Map<string, WeightsFolder[]>();
    for (const c of this.configs.values()) {
      const id = convertId(c.model, c.quant);
      weightsDirs.set(id, [...(weightsDirs.get(id) ?? []), { dir: c.outDir, config: c.id, isBase: c.isBase }]);
    }
    let graph: Graph<unknown, StepNode> | undefined;
    return ok({
      nodes,
      // Built when first asked for: plan, status and build walk `nodes` and the deps; a graphlib
      // Graph of 14k nodes costs a tenth of a plan's time.
      get graph() {
        graph ??= graphOf(nodes);
        return graph;
      },
      cells: this.cells,
      snapshotDirs: this.snapshotDirs,
      weightsDirs,
    });
  }

  /** One convert per model × quantization, writing into the base variant's folder. */
  private addConvert(model: Model, quant: string, base: ConfigNode): void {
    const id = convertId(model.id, quant);
    if (this.converts.has(id)) return;
    const inputs = { meta: downloadId(model.id, 'meta'), weights: downloadId(model.id, 'weights') };
    this.converts.set(id, { kind: 'convert', id, inputs, deps: depsOf(inputs), model: model.id, quant, outDir: base.outDir });
  }

  /** One config per distinct option set of a model × quantization (the base one without a cell). */
  private configFor(model: Model, quant: string, cell: Cell | undefined): ConfigNode {
    const { manifest } = this;
    const base = layer(manifest.config, model.config);
    const options = cell ? cell.options : base;
    const key = `${model.id}/${quant}/${optionsKey(options)}`;
    const existing = this.configByOptions.get(key);
    if (existing) return existing;
    const tag = variantTag(options, base);
    const variant = tag === '' ? 'base' : tag;
    const folder = weightsFolderName(manifest.naming, { model: model.id, quant, tag });
    const inputs = { meta: downloadId(model.id, 'meta') };
    const node: ConfigNode = {
      kind: 'config',
      id: configId(model.id, quant, variant),
      inputs,
      deps: depsOf(inputs),
      model: model.id,
      quant,
      variant,
      isBase: tag === '',
      options,
      outDir: join(manifest.out, folder),
    };
    const path = cell && cell.includes.length > 0 ? ['matrix', 'include', cell.includes[0] ?? 0] : model.path;
    this.claimFolder(folder, node.id, path);
    this.configByOptions.set(key, node);
    this.configs.set(node.id, node);
    return node;
  }

  private claimFolder(folder: string, node: string, path: Path): void {
    const owner = this.weightsOwners.get(folder);
    const at = this.manifest.source.locate(path, { key: true });
    if (owner) {
      this.diags.push(error(`output folder ${JSON.stringify(folder)} would hold both ${owner.node} and ${node}; change naming.weights or the model ids`, at));
    } else if (folder === LIBS_DIR || folder === MODELS_DIR) {
      this.diags.push(error(`output folder ${JSON.stringify(folder)} of ${node} is reserved under out/; change naming.weights`, at));
    }
    this.weightsOwners.set(folder, { node, path });
  }

  private addCompile(cell: Cell, model: Model, target: Target, config: ConfigNode): CompileNode {
    const lib = libraryName(this.manifest.naming, {
      model: model.id,
      quant: cell.quant,
      tag: config.isBase ? '' : config.variant,
      target: target.name,
      stem: target.stem,
      ext: target.ext,
    });
    const libPath = targetPath(target, cell);
    const owner = this.libraryOwners.get(lib);
    if (owner) {
      const what = `library ${JSON.stringify(`${LIBS_DIR}/${lib}`)} would be written by both ${owner.cell} and ${cell.id}`;
      this.diags.push(error(`${what}; give target ${JSON.stringify(target.name)} a different stem`, this.manifest.source.locate(libPath)));
    }
    this.libraryOwners.set(lib, { cell: cell.id, path: libPath });
    const inputs = { config: config.id };
    const compile: CompileNode = {
      kind: 'compile',
      id: compileId(cell.id),
      inputs,
      deps: depsOf(inputs),
      cell: cell.id,
      model: model.id,
      quant: cell.quant,
      target: target.name,
      library: join(this.manifest.out, LIBS_DIR, lib),
    };
    this.compiles.push(compile);
    return compile;
  }
}

function graphOf(nodes: ReadonlyMap<string, StepNode>): Graph<unknown, StepNode> {
  const graph = new Graph<unknown, StepNode>({ directed: true });
  for (const n of nodes.values()) graph.setNode(n.id, n);
  for (const n of nodes.values()) for (const d of n.deps) graph.setEdge(d, n.id);
  return graph;
}

function targetPath(target: Target, cell: Cell): Path {
  if (target.path) return target.path;
  return ['matrix', 'include', cell.includes[0] ?? 0];
}
