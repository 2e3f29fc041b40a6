// Selectors: `model=`, `quant=`, `target=` pick cells (their library and the weights folder that
// runs it), `step=` picks node kinds, a node id picks that node; every pick brings its dependencies.
import type { Cell, Manifest } from '../manifest/types.js';
import { didYouMean } from '../manifest/suggest.js';
import picomatch from 'picomatch';
import { err, ok, type Result } from '../result.js';
import type { BuildGraph } from './build.js';
import { NODE_KINDS, stepSpellings, type NodeKind } from '../steps/index.js';

export interface Selection {
  dims: { model?: string[]; quant?: string[]; target?: string[] };
  steps?: NodeKind[];
  ids: string[];
}

/** `commands`: the CLI's command names, to tell a mistyped command from a selector. */
export function parseSelectors(args: readonly string[], graph: BuildGraph, manifest: Manifest, commands: readonly string[] = []): Result<Selection, string> {
  const sel: Selection = { dims: {}, ids: [] };
  const cellValues = {
    model: [...new Set(manifest.cells.map((c) => c.model))],
    quant: [...new Set(manifest.cells.map((c) => c.quant))],
    target: [...new Set(manifest.cells.map((c) => c.target))],
  };
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq === -1) {
      if (graph.nodes.has(arg)) {
        sel.ids.push(arg);
        continue;
      }
      if (arg.includes(':')) return err(`unknown node ${JSON.stringify(arg)}${didYouMean(arg, [...graph.nodes.keys()])}`);
      // A bare word names a model, a target or a quantization (the user meant a selector), or is a mistyped command.
      for (const dim of ['model', 'target', 'quant'] as const) {
        if (cellValues[dim].includes(arg)) return err(`${JSON.stringify(arg)} is a ${dim === 'quant' ? 'quantization' : dim}: select it with ${dim}=${arg}`);
      }
      const command = didYouMean(arg, commands);
      if (command !== '' || !arg.startsWith('-')) {
        return err(
          `unknown command ${JSON.stringify(arg)}${command}; a selector is model=, quant=, target=, step= or a node id such as compile:MODEL/QUANT/TARGET`,
        );
      }
      return err(`unknown selector ${JSON.stringify(arg)}: use model=, quant=, target=, step= or a node id such as compile:MODEL/QUANT/TARGET`);
    }
    const key = arg.slice(0, eq);
    const values = arg
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (values.length === 0) return err(`selector ${JSON.stringify(arg)} has no value`);
    const dim = key === 'quantization' ? 'quant' : key;
    if (dim === 'model' || dim === 'quant' || dim === 'target') {
      const matched: string[] = [];
      for (const v of values) {
        const found = matching(v, cellValues[dim]);
        if (found.length === 0) {
          return err(`${key}=${v} matches nothing in the matrix${didYouMean(v, cellValues[dim])}; the matrix has ${key} ${cellValues[dim].join(', ')}`);
        }
        matched.push(...found);
      }
      sel.dims[dim] = [...new Set([...(sel.dims[dim] ?? []), ...matched])];
    } else if (dim === 'step') {
      const spellings = stepSpellings();
      for (const v of values) {
        const kind = spellings.get(v);
        if (!kind) return err(`unknown step ${JSON.stringify(v)}${didYouMean(v, [...spellings.keys()])}; steps are ${NODE_KINDS.join(', ')}`);
        sel.steps = [...(sel.steps ?? []), kind];
      }
    } else {
      return err(`unknown selector key ${JSON.stringify(key)}${didYouMean(key, ['model', 'quant', 'target', 'step'])}; use model=, quant=, target= or step=`);
    }
  }
  return ok(sel);
}

/** The values a selector value names: itself, or those a glob (`llama*`, `metal*`, `q4f*`) matches, as make and ninja users expect. */
function matching(value: string, values: readonly string[]): string[] {
  if (!picomatch.scan(value).isGlob) return values.includes(value) ? [value] : [];
  const match = picomatch(value);
  return values.filter((v) => match(v));
}

/**
 * The nodes the selectors pick themselves (their dependencies not included); every node when
 * nothing is selected. Cells in `skip` (this host cannot build them) are left out of what model=,
 * quant=, step= and no selector pick, and with them what only they need; node ids are taken as
 * they are.
 */
export function selectRoots(graph: BuildGraph, manifest: Manifest, sel: Selection, skip: ReadonlySet<string> = new Set()): Result<string[], string> {
  const hasDims = Object.keys(sel.dims).length > 0;
  if (!hasDims && !sel.steps && sel.ids.length === 0 && skip.size === 0) return ok([...graph.nodes.keys()]);
  let roots: string[] = [];
  if (hasDims || sel.steps || sel.ids.length === 0) {
    const matching = cellsMatching(manifest, sel.dims);
    if (matching.length === 0) return err('the selectors match no cell of the matrix');
    const cellRoots = (cells: readonly Cell[]) => cellNodes(graph, cells);
    const steps = sel.steps;
    const ofKind = (id: string) => {
      const kind = graph.nodes.get(id)?.kind;
      return steps === undefined || (kind !== undefined && steps.includes(kind));
    };
    const ofSteps = (ids: Iterable<string>) => [...ids].filter(ofKind);
    const kept = matching.filter((c) => !skip.has(c.id));
    // With step=, the steps of that kind among everything the cells need; else the cells' own nodes.
    roots = steps ? ofSteps(withDependencies(graph, cellRoots(kept))) : cellRoots(kept);
  }
  return ok([...new Set([...roots, ...sel.ids])]);
}

/** The cells that model=, quant= and target= pick (every cell without them). */
export function cellsMatching(manifest: Manifest, dims: Selection['dims']): Cell[] {
  return manifest.cells.filter((c) => (['model', 'quant', 'target'] as const).every((d) => dims[d] === undefined || dims[d].includes(c[d])));
}

/** A cell's own nodes: its library, its config and the base config, the conversion of its weights. */
export function cellNodes(graph: BuildGraph, cells: readonly Cell[]): string[] {
  return cells.flatMap((c) => {
    const n = graph.cells.get(c.id);
    return n ? [n.compile, n.config, n.baseConfig, n.convert] : [];
  });
}

/** The selected nodes with everything they depend on. */
export function selectNodes(graph: BuildGraph, manifest: Manifest, sel: Selection, skip: ReadonlySet<string> = new Set()): Result<Set<string>, string> {
  const roots = selectRoots(graph, manifest, sel, skip);
  return roots.ok ? ok(withDependencies(graph, roots.value)) : roots;
}

/** The nodes with everything they depend on. */
export function withDependencies(graph: BuildGraph, roots: readonly string[]): Set<string> {
  const out = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (out.has(id)) continue;
    out.add(id);
    // The node's own deps, not graphlib's predecessors(): that builds an array per call (plan walks 14k nodes twice).
    for (const d of graph.nodes.get(id)?.deps ?? []) stack.push(d);
  }
  return out;
}
