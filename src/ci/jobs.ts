// src/ci/ owns CI fan-out: expected costs per cell (cost.ts), deterministic shards (shard.ts), the
// matrix's jobs (this file) and the workflows `ci init` writes (workflows.ts). It reads the graph
// and the manifest; it runs nothing.
//
// The jobs of a CI matrix: cells grouped by target (or model, or one per cell), each group on one
// runner; groups of the same runner merged, cheapest pairs first, until the matrix fits the CI's
// limit; never a cell dropped, never two runners in one job. Each job says what it passes to
// `mlc-build build`: selectors that pick exactly its cells, `step=compile` (or `step=convert`) so a
// compile job never converts weights.
import type { BuildGraph } from '../graph/build.js';
import { kindFacts, type NodeKind } from '../steps/index.js';
import type { Cell, Manifest } from '../manifest/types.js';
import { byText } from '../order.js';
import { ciRecipe } from '../recipes/index.js';
import { err, ok, type Result } from '../result.js';
import type { Costs } from './cost.js';
import { needsWebRuntime } from './web-runtime.js';

export type GroupBy = 'cell' | 'target' | 'model';
/** A kind that is a CI stage of its own (steps/index.ts ciStages()). */
export type Stage = NodeKind;
export type Runner = string | string[];

export interface Job {
  name: string;
  /** The arguments for `mlc-build build`. */
  build: string;
  runs_on: Runner;
  cells: string[];
  est_seconds: number;
  /** Some of its cells compile for webgpu: the workflow sets up emsdk and the web runtime first (web-runtime.ts). */
  needs_web_runtime: boolean;
}

interface Group {
  runner: Runner;
  cells: Cell[];
  /** For the convert stage: model/quant pairs. */
  pairs: string[];
  cost: number;
}

const runnerKey = (r: Runner): string => JSON.stringify(r);

/**
 * How a stage splits its work: conversions once per model × quantization (on the conversion
 * runner), libraries per cell (on their target's runner).
 */
export function stageUnit(stage: Stage): 'pair' | 'cell' {
  const makes = kindFacts(stage).makes;
  switch (makes) {
    case 'weights':
      return 'pair';
    case 'library':
      return 'cell';
    case 'source files':
    case 'chat config':
      throw new Error(`${stage} is not a CI stage`);
  }
}

export function convertRunner(manifest: Manifest): Runner {
  return manifest.ci.convertRunner ?? ciRecipe().convert_runner;
}

export function planJobs(
  manifest: Manifest,
  graph: BuildGraph,
  cells: readonly Cell[],
  costs: Costs,
  opts: { groupBy: GroupBy; maxJobs: number; stage: Stage },
): Result<Job[], string> {
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  const groups = new Map<string, Group>();
  const add = (key: string, runner: Runner, cell: Cell, pair: string | undefined, cost: number) => {
    const g = groups.get(key) ?? { runner, cells: [], pairs: [], cost: 0 };
    g.cells.push(cell);
    if (pair !== undefined && !g.pairs.includes(pair)) {
      g.pairs.push(pair);
      g.cost += cost;
    }
    if (pair === undefined) g.cost += cost;
    groups.set(key, g);
  };
  const unit = stageUnit(opts.stage);
  for (const cell of cells) {
    if (unit === 'pair') {
      // One conversion per model × quantization, all on the conversion runner.
      const runner = convertRunner(manifest);
      const pair = `${cell.model}/${cell.quant}`;
      const key = opts.groupBy === 'model' ? cell.model : pair;
      add(key, runner, cell, pair, costs.convert(cell.model));
      continue;
    }
    const runner = targets.get(cell.target)?.runner ?? 'ubuntu-latest';
    const key = opts.groupBy === 'cell' ? cell.id : opts.groupBy === 'target' ? cell.target : `${cell.model} ${runnerKey(runner)}`;
    add(key, runner, cell, undefined, costs.compile(cell));
  }
  const list = [...groups.values()];
  const runners = new Set(list.map((g) => runnerKey(g.runner)));
  if (runners.size > opts.maxJobs) {
    return err(`the cells need ${runners.size} different runners, so at least ${runners.size} jobs; the limit is ${opts.maxJobs}`);
  }
  // Merge the two cheapest groups of one runner until the matrix fits.
  while (list.length > opts.maxJobs) {
    let best: [number, number] | undefined;
    let bestCost = Infinity;
    const byRunner = new Map<string, number[]>();
    list.forEach((g, i) => byRunner.set(runnerKey(g.runner), [...(byRunner.get(runnerKey(g.runner)) ?? []), i]));
    for (const idx of byRunner.values()) {
      if (idx.length < 2) continue;
      const [a, b] = [...idx].sort((x, y) => (list[x]?.cost ?? 0) - (list[y]?.cost ?? 0) || x - y);
      const cost = (list[a as number]?.cost ?? 0) + (list[b as number]?.cost ?? 0);
      if (a !== undefined && b !== undefined && cost < bestCost) {
        bestCost = cost;
        best = [Math.min(a, b), Math.max(a, b)];
      }
    }
    if (!best) break;
    const [i, j] = best;
    const gi = list[i] as Group;
    const gj = list[j] as Group;
    list[i] = {
      runner: gi.runner,
      cells: [...gi.cells, ...gj.cells],
      pairs: [...gi.pairs, ...gj.pairs.filter((p) => !gi.pairs.includes(p))],
      cost: gi.cost + gj.cost,
    };
    list.splice(j, 1);
  }
  const jobs = list.map((g) => toJob(manifest, graph, g, opts.stage));
  // Stable, readable names: unique within the matrix.
  const seen = new Map<string, number>();
  for (const j of jobs) {
    const n = (seen.get(j.name) ?? 0) + 1;
    seen.set(j.name, n);
    if (n > 1) j.name = `${j.name} (${n})`;
  }
  return ok(jobs.sort((a, b) => byText(a.name, b.name)));
}

function toJob(manifest: Manifest, graph: BuildGraph, g: Group, stage: Stage): Job {
  const cells = [...g.cells].sort((a, b) => byText(a.id, b.id));
  const unit = stageUnit(stage);
  // Conversions run on the conversion runner whatever the targets need (--all-hosts), never per target host.
  const build = `${unit === 'pair' ? '--all-hosts ' : ''}step=${stage} ${selectorsFor(manifest, graph, cells, stage)}`.trim();
  const dims = (k: 'model' | 'quant' | 'target') => [...new Set(cells.map((c) => c[k]))].sort(byText);
  const label =
    unit === 'pair'
      ? g.pairs.sort(byText).join(' ')
      : cells.length === 1
        ? cells[0]?.id
        : `${dims('target').join('+')} ${dims('model').length === 1 ? dims('model')[0] : ''}`.trim();
  const name = `${stage} ${label && label.length <= 60 ? label : `${cells.length} cells`}`;
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  // A conversion compiles nothing, whatever its cells' targets.
  const needs_web_runtime = unit === 'cell' && cells.some((c) => needsWebRuntime(targets.get(c.target)));
  return { name, build, runs_on: g.runner, cells: cells.map((c) => c.id), est_seconds: g.cost, needs_web_runtime };
}

/** Selectors that pick exactly these cells: model=/quant=/target= when they are a full product, else node ids. */
function selectorsFor(manifest: Manifest, graph: BuildGraph, cells: readonly Cell[], stage: Stage): string {
  const set = new Set(cells.map((c) => c.id));
  const dims = (['model', 'quant', 'target'] as const).map((k) => [k, [...new Set(cells.map((c) => c[k]))].sort(byText)] as const);
  const product = manifest.cells.filter((c) => dims.every(([k, vs]) => vs.includes(c[k])));
  if (product.length === set.size && product.every((c) => set.has(c.id))) {
    const all = (k: 'model' | 'quant' | 'target', vs: readonly string[]) => new Set(manifest.cells.map((c) => c[k])).size === vs.length;
    const parts = dims.filter(([k, vs]) => !all(k, vs)).map(([k, vs]) => `${k}=${vs.join(',')}`);
    return parts.join(' ');
  }
  if (stageUnit(stage) === 'pair') return [...new Set(cells.map((c) => graph.cells.get(c.id)?.convert ?? ''))].sort(byText).join(' ');
  return cells.map((c) => graph.cells.get(c.id)?.compile ?? '').join(' ');
}
