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

export interface BuildGraph {
  /** Nodes in a topological order: downloads, converts, configs, compiles; manifest order within. */
  nodes: Map<string, StepNode>;
  graph: Graph<unknown, StepNode>;
  cells: Map<string, CellNodes>;
  /** Where each model's source files are read from (a local folder, or the materialised snapshot). */
  snapshotDirs: Map<string, string>;
  /** Per convert node: every weights folder (base and variants) its shards go into. */
  weightsDirs: Map<string, string[]>;
}

export function buildGraph(manifest: Manifest): Result<BuildGraph, Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const models = new Map(manifest.models.map((m) => [m.id, m]));
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  const downloads: StepNode[] = [];
  const converts: StepNode[] = [];
  const configs = new Map<string, ConfigNode>();
  const configByOptions = new Map<string, ConfigNode>();
  const compiles: CompileNode[] = [];
  const cells = new Map<string, CellNodes>();
  const snapshotDirs = new Map<string, string>();
  const weightsOwners = new Map<string, { node: string; path: Path }>();
  const libraryOwners = new Map<string, { cell: string; path: Path }>();

  const usedModels = new Set(manifest.cells.map((c) => c.model));
  for (const model of manifest.models) {
    if (!usedModels.has(model.id)) continue;
    snapshotDirs.set(model.id, model.source.kind === 'local' ? model.source.path : join(manifest.out, MODELS_DIR, model.id));
    for (const part of ['meta', 'weights'] as const)
      downloads.push({ kind: 'download', part, model: model.id, id: downloadId(model.id, part), inputs: {}, deps: [] });
  }

  const configFor = (model: Model, quant: string, cell: Cell | undefined): ConfigNode => {
    const base = layer(manifest.config, model.config);
    const options = cell ? cell.options : base;
    const key = `${model.id}/${quant}/${optionsKey(options)}`;
    const existing = configByOptions.get(key);
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
    const owner = weightsOwners.get(folder);
    const path = cell && cell.includes.length > 0 ? ['matrix', 'include', cell.includes[0] ?? 0] : model.path;
    if (owner) {
      diags.push(
        error(
          `output folder ${JSON.stringify(folder)} would hold both ${owner.node} and ${node.id}; change naming.weights or the model ids`,
          manifest.source.locate(path, { key: true }),
        ),
      );
    } else if (folder === LIBS_DIR || folder === MODELS_DIR) {
      diags.push(
        error(
          `output folder ${JSON.stringify(folder)} of ${node.id} is reserved under out/; change naming.weights`,
          manifest.source.locate(path, { key: true }),
        ),
      );
    }
    weightsOwners.set(folder, { node: node.id, path });
    configByOptions.set(key, node);
    configs.set(node.id, node);
    return node;
  };

  const seenPairs = new Set<string>();
  for (const cell of manifest.cells) {
    const model = models.get(cell.model);
    const target = targets.get(cell.target);
    if (!model || !target) throw new Error(`cell ${cell.id} names an unknown model or target`);
    const pair = `${cell.model}/${cell.quant}`;
    const base = configFor(model, cell.quant, undefined);
    if (!seenPairs.has(pair)) {
      seenPairs.add(pair);
      const inputs = { meta: downloadId(model.id, 'meta'), weights: downloadId(model.id, 'weights') };
      converts.push({
        kind: 'convert',
        id: convertId(model.id, cell.quant),
        inputs,
        deps: depsOf(inputs),
        model: model.id,
        quant: cell.quant,
        outDir: base.outDir,
      });
    }
    const config = configFor(model, cell.quant, cell);
    const lib = libraryName(manifest.naming, {
      model: model.id,
      quant: cell.quant,
      tag: config.isBase ? '' : config.variant,
      target: target.name,
      stem: target.stem,
      ext: target.ext,
    });
    const libPath = targetPath(target, cell);
    const owner = libraryOwners.get(lib);
    if (owner) {
      diags.push(
        error(
          `library ${JSON.stringify(`${LIBS_DIR}/${lib}`)} would be written by both ${owner.cell} and ${cell.id}; give target ${JSON.stringify(target.name)} a different stem`,
          manifest.source.locate(libPath),
        ),
      );
    }
    libraryOwners.set(lib, { cell: cell.id, path: libPath });
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
      library: join(manifest.out, LIBS_DIR, lib),
    };
    compiles.push(compile);
    cells.set(cell.id, { compile: compile.id, config: config.id, baseConfig: base.id, convert: convertId(model.id, cell.quant) });
  }
  if (diags.length > 0) return err(diags);

  const nodes = new Map<string, StepNode>();
  for (const n of [...downloads, ...converts, ...configs.values(), ...compiles]) nodes.set(n.id, n);
  const weightsDirs = new Map<string, string[]>();
  for (const c of configs.values()) {
    const id = convertId(c.model, c.quant);
    weightsDirs.set(id, [...(weightsDirs.get(id) ?? []), c.outDir]);
  }
  const graph = new Graph<unknown, StepNode>({ directed: true });
  for (const n of nodes.values()) graph.setNode(n.id, n);
  for (const n of nodes.values()) for (const d of n.deps) graph.setEdge(d, n.id);
  return ok({ nodes, graph, cells, snapshotDirs, weightsDirs });
}

function targetPath(target: Target, cell: Cell): Path {
  if (target.path) return target.path;
  return ['matrix', 'include', cell.includes[0] ?? 0];
}
