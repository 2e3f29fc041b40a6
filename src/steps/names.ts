// The names of the step kinds, apart from what the kinds do: the manifest, its schema and the
// recipes key settings by kind, and must not load the kinds' modules (index.ts is the registry).
// Dependency-free on purpose.

/** The step kinds of the build graph, in the order of the pipeline (plan's sections, the summary). */
export const NODE_KINDS = ['download', 'convert', 'config', 'compile'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

export function isNodeKind(name: string): name is NodeKind {
  return NODE_KINDS.some((kind) => kind === name);
}

/** The kind a node id names (ids start with their kind), if it names one. */
export function kindOfNodeId(id: string): NodeKind | undefined {
  const prefix = id.slice(0, id.indexOf(':'));
  return isNodeKind(prefix) ? prefix : undefined;
}

/** One value per kind, keyed by its name: the manifest's per-kind settings (`resources:`, `watch.supersede:`). */
export function perKind<T>(value: (kind: NodeKind) => T): Record<NodeKind, T> {
  const out: Partial<Record<NodeKind, T>> = {};
  for (const kind of NODE_KINDS) out[kind] = value(kind);
  if (!hasEveryKind(out)) throw new Error('perKind: a kind has no value');
  return out;
}

function hasEveryKind<T>(values: Partial<Record<NodeKind, T>>): values is Record<NodeKind, T> {
  return NODE_KINDS.every((kind) => kind in values);
}
