// One evaluation of a node, shared by build, plan, status and explain: what its kind makes of it
// given its dependencies' outputs, then — for a step — whether its result is already in place in
// out/ (fresh), in the cache (to restore), or must be run.
import { ok } from '../result.js';
import type { StepNode } from '../graph/nodes.js';
import { diffFields, keyOf, type KeyFields } from '../keys.js';
import type { SourceFiles } from '../sources/source.js';
import { stepOf, type Action } from '../steps/index.js';
import type { CacheHit } from '../store/cache.js';
import type { Files } from '../store/store.js';
import type { BuildContext } from './context.js';
import { must } from '../must.js';

export type Evaluation =
  /** Dependencies must be built first: the node's key is known only then. */
  | { kind: 'waits'; deps: string[] }
  | { kind: 'unavailable'; reason: string }
  /** A source that must be fetched. */
  | { kind: 'fetch'; reason: string }
  /** A source whose files are here; `fresh` when its key is the last build's. */
  | { kind: 'source'; found: SourceFiles; fresh: boolean }
  /** A step: in place in out/ (`placed`), in the cache (`hit`), or to run. */
  /** `differs`: files in out/ that differ from what the last build placed there, under an unchanged key. */
  | { kind: 'step'; key: string; fields: KeyFields; action: Action; hit?: CacheHit; placed: boolean; differs?: string[] };

export async function evaluate(ctx: BuildContext, node: StepNode, available: ReadonlyMap<string, Files>): Promise<Evaluation> {
  const waits = node.deps.filter((d) => !available.has(d));
  if (waits.length > 0) return { kind: 'waits', deps: waits };
  const nodeStep = stepOf(node);
  const ev = await nodeStep.evaluate(ctx, (id) => must(available, id, 'outputs of the dependency'));
  switch (ev.kind) {
    case 'unavailable':
    case 'fetch':
      return ev;
    case 'source':
      return { kind: 'source', found: ev.found, fresh: ctx.state.nodes[node.id]?.key === ev.found.key };
    case 'action': {
      const key = keyOf(ev.fields);
      const step = { kind: 'step' as const, key, fields: ev.fields, action: ev.action };
      // Fresh without asking the cache: the last build's key, and its outputs still in place in out/.
      const last = ctx.state.nodes[node.id];
      if (last?.key === key && last.outputs) {
        const record = { key, node: node.id, outputs: last.outputs, durationMs: 0, createdAt: '' };
        const files = ctx.store.filesOf(record);
        const placements = nodeStep.placements(ctx, files);
        // Same key, but not all in place: which files differ (removed, edited, replaced) is worth saying.
        const differs = (await ctx.notPlaced(placements)).map((p) => p.dest);
        if (differs.length === 0) return { ...step, hit: { record, from: 'local', local: files, restore: () => Promise.resolve(ok(files)) }, placed: true };
        const hit = await ctx.cache.lookup(key, { verify: ctx.opts.verify });
        return { ...step, hit, placed: false, differs };
      }
      const hit = await ctx.cache.lookup(key, { verify: ctx.opts.verify });
      const placed = hit?.local ? await ctx.isPlaced(nodeStep.placements(ctx, hit.local)) : false;
      return { ...step, hit, placed };
    }
  }
}

/** The outputs an evaluation makes readable to dependents without running anything. */
export function readableOutputs(ev: Evaluation): Files | undefined {
  if (ev.kind === 'source') return ev.found.files;
  if (ev.kind === 'step') return ev.hit?.local;
  return undefined;
}

/** `unavailable`: this host cannot build it (host-aware builds skip it). */
export type NodeState = 'fresh' | 'cached' | 'stale' | 'missing' | 'unavailable';

/** What plan and status say of an evaluation, against the node's last build. */
export async function describe(ctx: BuildContext, node: StepNode, ev: Evaluation): Promise<{ state: NodeState; reason: string }> {
  const last = ctx.state.nodes[node.id];
  const changed = async (fields: KeyFields) => {
    const diff = diffFields(await ctx.lastFields(node.id), fields);
    return diff.length > 3 ? `${diff.slice(0, 3).join('; ')}; …` : diff.join('; ');
  };
  switch (ev.kind) {
    case 'waits':
      return { state: 'stale', reason: `waits for ${ev.deps.join(', ')}` };
    case 'unavailable':
    case 'fetch':
      return { state: 'missing', reason: ev.reason };
    case 'source': {
      if (ev.fresh) return { state: 'fresh', reason: 'unchanged' };
      const folder = must(ctx.graph.snapshotDirs, node.model, 'snapshot folder of the model');
      const shown = `${ctx.display(folder)}/`;
      return last
        ? { state: 'stale', reason: `folder ${shown} changed: ${await changed(ev.found.fields)}` }
        : { state: 'missing', reason: `folder ${shown} not yet imported` };
    }
    case 'step':
      if (!ev.hit && ev.differs && ev.differs.length > 0) {
        // Same key as the last build: nothing changed but the files themselves (edited in place).
        const files = ev.differs.map((d) => ctx.display(d));
        const shown = files.length > 2 ? `${files.slice(0, 2).join(', ')} and ${files.length - 2} more` : files.join(', ');
        return { state: 'stale', reason: `${shown} differ${files.length === 1 ? 's' : ''} from what was built (edited in place?); will be rebuilt` };
      }
      if (ev.hit) {
        if (ev.placed) return { state: 'fresh', reason: 'up to date' };
        return {
          state: 'cached',
          reason: ev.hit.from === 'local' ? 'in the store; will be restored' : `in ${ev.hit.label ?? ev.hit.from}; will be fetched`,
        };
      }
      return last ? { state: 'stale', reason: `changed: ${await changed(ev.fields)}` } : { state: 'missing', reason: 'not built yet' };
  }
}
