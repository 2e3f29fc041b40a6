// The nodes a command or a watch acts on: the selectors parsed against the project, with what they
// depend on, and what this host can build (host-aware.ts).
import { parseSelectors, selectRoots, withDependencies, type Selection } from '../graph/select.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { allHostsRequested, explicitlyUnbuildable, hostView, unavailableNodes, unbuildableCells, type HostView } from './host-aware.js';
import type { Project } from './project.js';

export interface SelectionRequest {
  selectors: readonly string[];
  /** The command names: a word that is one is a misplaced command, not a selector. */
  commands: readonly string[];
  /** Build and watch: leave out the cells this host cannot build; plan and status list them as unavailable. */
  skip: boolean;
  /** --all-hosts (MLC_BUILD_ALL_HOSTS=1 does the same). */
  allHosts?: boolean;
}

export interface Selected {
  project: Project;
  selected: Set<string>;
  /** The nodes the selectors pick themselves, without their dependencies (what --force re-runs). */
  roots: string[];
  sel: Selection;
  host: HostView;
  unavailable: Map<string, string>;
}

/** Why the selectors cannot be used, and the exit code that says so. */
export interface SelectionProblem {
  exit: ExitCode;
  problem: string;
}

/**
 * The selected nodes of a loaded project, or what is wrong. With `skip` (build, watch), cells this
 * host cannot build are left out; otherwise (plan, status) they stay and are listed in `unavailable`.
 */
export async function selectIn(project: Project, request: SelectionRequest): Promise<Selected | SelectionProblem> {
  const sel = parseSelectors(request.selectors, project.graph, project.manifest, request.commands);
  if (!sel.ok) return { exit: EXIT.usage, problem: sel.error };
  const host = await hostView(project, allHostsRequested(request.allHosts, process.env), process.env);
  if (request.skip) {
    const explicit = explicitlyUnbuildable(project, sel.value, host);
    if (explicit) return { exit: EXIT.stepFailed, problem: explicit };
  }
  const roots = selectRoots(project.graph, project.manifest, sel.value, request.skip ? unbuildableCells(project, host) : new Set<string>());
  if (!roots.ok) return { exit: EXIT.usage, problem: roots.error };
  const selected = withDependencies(project.graph, roots.value);
  const unavailable = request.skip ? new Map<string, string>() : unavailableNodes(project, host);
  return { project, selected, roots: roots.value, sel: sel.value, host, unavailable };
}
