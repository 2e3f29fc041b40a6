// The graph drawn as Graphviz dot, Mermaid, or JSON.
import { kindFacts } from '../steps/index.js';
import type { BuildGraph } from './build.js';

export const GRAPH_FORMATS = ['dot', 'mermaid', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export function renderGraph(graph: BuildGraph, selected: ReadonlySet<string>, format: GraphFormat): string {
  const nodes = [...graph.nodes.values()].filter((n) => selected.has(n.id));
  switch (format) {
    case 'json':
      return JSON.stringify({ nodes: nodes.map((n) => ({ id: n.id, kind: n.kind, deps: n.deps })) }) + '\n';
    case 'dot': {
      const q = (s: string) => JSON.stringify(s);
      const lines = ['digraph mlc_build {', '  rankdir=LR;', '  node [fontname="Helvetica"];'];
      for (const n of nodes) lines.push(`  ${q(n.id)} [shape=${kindFacts(n.kind).shape}];`);
      for (const n of nodes) for (const d of n.deps) lines.push(`  ${q(d)} -> ${q(n.id)};`);
      lines.push('}');
      return lines.join('\n') + '\n';
    }
    case 'mermaid': {
      // Mermaid ids must be plain words; labels carry the real node ids.
      const ids = new Map(nodes.map((n, i) => [n.id, `n${i}`]));
      const lines = ['flowchart LR'];
      for (const n of nodes) lines.push(`  ${ids.get(n.id)}["${n.id.replace(/"/g, '#quot;')}"]`);
      for (const n of nodes) for (const d of n.deps) lines.push(`  ${ids.get(d)} --> ${ids.get(n.id)}`);
      return lines.join('\n') + '\n';
    }
  }
}
