// Which pool each step takes and how big the pools are: recipes/pools.json, then the manifest's
// `resources:`, then a target object's `resources:` for its compile steps.
import type { StepNode } from '../graph/nodes.js';
import type { Manifest, Target } from '../manifest/types.js';
import { stepOf } from '../steps/index.js';
import { POOL_NAMES, recipes, type PoolName } from '../recipes/index.js';
import type { Capacity, Task } from './scheduler.js';
import { InternalError } from '../must.js';

export interface Machine {
  cpus: number;
  gpus: number;
}

export function poolSizes(manifest: Manifest, machine: Machine): Record<PoolName, number> {
  const sizes = {} as Record<PoolName, number>;
  for (const pool of POOL_NAMES) {
    const size = recipes().pools[pool].size;
    sizes[pool] = manifest.resources.pools[pool] ?? (size === 'cores' ? machine.cpus : size === 'gpus' ? machine.gpus : size);
  }
  return sizes;
}

export function capacity(manifest: Manifest, machine: Machine, jobs: number): Capacity {
  return { pools: poolSizes(manifest, machine), jobs };
}

/** The pool and slots one node takes when it executes. */
export function stepResources(node: StepNode, manifest: Manifest, sizes: Record<PoolName, number>): { pool: PoolName; slots: number } {
  const recipe = recipes().stepPools[node.kind];
  const kind = manifest.resources.steps[node.kind];
  const target = stepOf(node).resources({ target: (name) => manifest.targets.find((t) => t.name === name) as Target });
  const explicit = target?.pool ?? kind?.pool;
  const fallback = recipe.pool.at(-1);
  if (fallback === undefined) throw new InternalError(`internal: recipes/pools.json names no pool for ${node.kind}`);
  const pool = explicit ?? recipe.pool.find((p) => sizes[p] > 0) ?? fallback;
  return { pool, slots: target?.slots ?? kind?.slots ?? recipe.slots };
}

export function schedulerTasks(
  nodes: readonly StepNode[],
  manifest: Manifest,
  sizes: Record<PoolName, number>,
  expected: (node: StepNode, fallback: number) => number,
): Task[] {
  return nodes.map((node) => ({
    id: node.id,
    deps: node.deps,
    ...stepResources(node, manifest, sizes),
    expectedMs: expected(node, recipes().stepPools[node.kind].expected_ms),
  }));
}
