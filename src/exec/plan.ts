// The plan: for each selected node, its state, why, the mlc_llm command it runs (paths in the out/
// layout, as a user would type them) and its outputs. Planning reads no network and runs nothing.
import { relative, sep } from 'node:path';
import type { NodeKind, StepNode } from '../graph/nodes.js';
import type { Model } from '../manifest/types.js';
import type { Builder, Files } from './builder.js';
import { diffFields } from './keys.js';
import { compileArgv, convertWeightArgv, genConfigArgv } from '../toolchain/argv.js';

export type NodeState = 'fresh' | 'cached' | 'stale' | 'missing';

export interface PlannedNode {
  id: string;
  kind: NodeKind;
  deps: string[];
  state: NodeState;
  reason: string;
  argv: string[] | null;
  env: Record<string, string>;
  outputs: string[];
}

export interface Plan {
  root: string;
  nodes: PlannedNode[];
}

export async function makePlan(builder: Builder, selected: ReadonlySet<string>): Promise<Plan> {
  const { manifest, graph } = builder;
  const display = (abs: string, dir = false) => {
    const rel = relative(manifest.root, abs).split(sep).join('/');
    const p = rel === '' ? '.' : rel;
    return dir ? `${p}/` : p;
  };
  // The seed writes inputs as ./dist/models/X/ and outputs as dist/X-MLC.
  const input = (abs: string, dir = true) => {
    const p = display(abs, dir);
    return p.startsWith('../') ? p : `./${p}`;
  };
  const toolchain = builder.toolchain.argv;
  const models = new Map(manifest.models.map((m) => [m.id, m]));
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  const available = new Map<string, Files>();
  const nodes: PlannedNode[] = [];

  for (const node of graph.nodes.values()) {
    if (!selected.has(node.id)) continue;
    const { state, reason } = await evaluate(node);
    nodes.push({ id: node.id, kind: node.kind, deps: node.deps, state, reason, ...commandOf(node) });
  }
  return { root: manifest.root, nodes };

  async function evaluate(node: StepNode): Promise<{ state: NodeState; reason: string }> {
    const d = await builder.decide(node, available);
    const last = builder.state.nodes[node.id];
    const lastFields = last ? await builder.lastFields(node.id) : undefined;
    const changed = (fields: Record<string, unknown>) => {
      const diff = diffFields(lastFields, fields);
      return diff.length > 3 ? `${diff.slice(0, 3).join('; ')}; …` : diff.join('; ');
    };
    switch (d.kind) {
      case 'waits':
        return { state: 'stale', reason: `waits for ${d.deps.join(', ')}` };
      case 'unavailable':
      case 'fetch':
        return { state: 'missing', reason: d.reason };
      case 'source': {
        available.set(node.id, d.files);
        if (last?.key === d.key) return { state: 'fresh', reason: 'unchanged' };
        const folder = display(graph.snapshotDirs.get(node.model) as string, true);
        return last ? { state: 'stale', reason: `folder ${folder} changed: ${changed(d.fields)}` } : { state: 'missing', reason: `folder ${folder} not yet imported` };
      }
      case 'step':
        if (d.record) {
          available.set(node.id, builder.recordFiles(d.record));
          return d.placed ? { state: 'fresh', reason: 'up to date' } : { state: 'cached', reason: 'in the store; will be restored' };
        }
        return last ? { state: 'stale', reason: `changed: ${changed(d.fields)}` } : { state: 'missing', reason: 'not built yet' };
    }
  }

  function commandOf(node: StepNode): Pick<PlannedNode, 'argv' | 'env' | 'outputs'> {
    const model = models.get(node.model) as Model;
    const snapshot = graph.snapshotDirs.get(node.model) as string;
    switch (node.kind) {
      case 'download':
        return { argv: null, env: {}, outputs: [display(snapshot, true)] };
      case 'convert':
        return {
          argv: [
            ...toolchain,
            ...convertWeightArgv({ source: input(snapshot), quant: node.quant, modelType: model.modelType, sourceFormat: model.sourceFormat, output: display(node.outDir) }),
          ],
          env: {},
          outputs: [`${display(node.outDir)}/tensor-cache.json`, `${display(node.outDir)}/params_shard_*.bin`],
        };
      case 'config':
        return {
          argv: [
            ...toolchain,
            ...genConfigArgv({ source: input(snapshot), quant: node.quant, modelType: model.modelType, convTemplate: model.convTemplate, options: node.options, output: display(node.outDir, true) }),
          ],
          env: {},
          outputs: [`${display(node.outDir)}/mlc-chat-config.json`],
        };
      case 'compile': {
        const target = targets.get(node.target);
        const config = graph.nodes.get(node.config);
        if (!target || config?.kind !== 'config') throw new Error(`${node.id} has no target or config node`);
        return {
          argv: [
            ...toolchain,
            ...compileArgv({
              config: `${input(config.outDir)}mlc-chat-config.json`,
              device: target.device,
              host: target.host,
              opt: target.opt,
              systemLibPrefix: target.systemLibPrefix,
              overrides: target.overrides,
              output: display(node.library),
            }),
          ],
          env: target.env,
          outputs: [display(node.library)],
        };
      }
    }
  }
}

export function countStates(plan: Plan): Record<NodeState, number> {
  const counts: Record<NodeState, number> = { fresh: 0, cached: 0, stale: 0, missing: 0 };
  for (const n of plan.nodes) counts[n.state]++;
  return counts;
}
