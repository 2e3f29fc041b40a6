// Host-aware builds (Bazel's rule for incompatible targets): a build of the whole manifest, or of
// model=/quant=/step= sets, skips the cells this host cannot build and says so once; a cell named
// explicitly (target=, a compile node id) that it cannot build is an error. `--all-hosts` or
// MLC_BUILD_ALL_HOSTS=1 tries every cell anyway.
import { cellsMatching, selectRoots, withDependencies, type Selection } from '../graph/select.js';
import { hostFacts, missingFor } from '../toolchain/host-checks.js';
import type { HostReads } from './noop-stamp.js';
import type { Project } from './project.js';
import { must } from '../must.js';

export { allHostsRequested } from './all-hosts.js';

export interface HostView {
  /** Target name → what this host lacks to build its libraries. Empty with --all-hosts. */
  missing: Map<string, string>;
  /** What the host checks read (undefined with --all-hosts: nothing was checked), for the no-op stamp. */
  reads: HostReads | undefined;
}

export async function hostView(project: Project, allHosts: boolean, env: NodeJS.ProcessEnv): Promise<HostView> {
  const missing = new Map<string, string>();
  if (allHosts) return { missing, reads: undefined };
  const paths: string[] = [];
  const host = await hostFacts(project.manifest.root, env, paths);
  const used = new Set(project.manifest.cells.map((c) => c.target));
  for (const t of project.manifest.targets) {
    if (!used.has(t.name)) continue;
    const m = missingFor(t, host);
    if (m !== undefined) missing.set(t.name, m);
  }
  return { missing, reads: { paths, gpus: host.gpus } };
}

/** The cells this host cannot build. */
export function unbuildableCells(project: Project, view: HostView): Set<string> {
  return new Set(project.manifest.cells.filter((c) => view.missing.has(c.target)).map((c) => c.id));
}

/**
 * Node id → why this host cannot build it (for plan and status): the compiles of cells it cannot
 * build, and what only those need (a config variant only an iphone cell uses), so plan and status
 * say of every node what a host-aware build does with it.
 */
export function unavailableNodes(project: Project, view: HostView): Map<string, string> {
  const out = new Map<string, string>();
  const { graph, manifest } = project;
  for (const c of manifest.cells) {
    const m = view.missing.get(c.target);
    const node = graph.cells.get(c.id)?.compile;
    if (m === undefined || !node) continue;
    out.set(node, `unavailable here: ${c.target} needs ${m}`);
  }
  if (out.size === 0) return out;
  const roots = selectRoots(graph, manifest, { dims: {}, ids: [] }, unbuildableCells(project, view));
  const built = withDependencies(graph, roots.ok ? roots.value : []);
  // One string for all of them: a plan of thousands of nodes repeats it, and the compiles say what is lacking.
  const why = 'unavailable here: only cells this host cannot build need it';
  for (const id of graph.nodes.keys()) if (!built.has(id) && !out.has(id)) out.set(id, why);
  return out;
}

/** Why the selection names a cell this host cannot build, if it does. */
export function explicitlyUnbuildable(project: Project, sel: Selection, view: HostView): string | undefined {
  for (const t of sel.dims.target ?? []) {
    const m = view.missing.get(t);
    if (m !== undefined) return `target=${t} cannot be built on this host: it needs ${m} (build it on such a host or on CI, or pass --all-hosts to try anyway)`;
  }
  for (const id of sel.ids) {
    const cell = project.manifest.cells.find((c) => project.graph.cells.get(c.id)?.compile === id);
    const m = cell && view.missing.get(cell.target);
    if (cell && m !== undefined)
      return `${id} cannot be built on this host: ${cell.target} needs ${m} (build it on such a host or on CI, or pass --all-hosts to try anyway)`;
  }
  return undefined;
}

/** The one line said before a build that skips cells, grouped by what is missing. */
export function skipText(project: Project, sel: Selection, view: HostView, selected: ReadonlySet<string>): string | undefined {
  const buildable = project.manifest.cells.filter((c) => selected.has(project.graph.cells.get(c.id)?.compile ?? '')).length;
  const inScope = cellsMatching(project.manifest, sel.dims);
  const skipped = inScope.filter((c) => view.missing.has(c.target));
  if (skipped.length === 0) return undefined;
  const byMissing = new Map<string, string[]>();
  for (const t of new Set(skipped.map((c) => c.target))) {
    const m = must(view.missing, t, 'what this host lacks for the target');
    byMissing.set(m, [...(byMissing.get(m) ?? []), t]);
  }
  const groups = [...byMissing].map(([m, ts]) => `${ts.join(', ')} need${ts.length === 1 ? 's' : ''} ${m}`);
  const n = `${skipped.length} librar${skipped.length === 1 ? 'y' : 'ies'}`;
  const head = buildable === 0 ? `nothing in the selection can be built on this host: skipping ${n}` : `skipping ${n} this host cannot build`;
  return `mlc-build: ${head}: ${groups.join('; ')} (build them on such a host, or on CI; --all-hosts tries anyway)\n`;
}
