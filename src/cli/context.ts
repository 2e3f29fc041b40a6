// Shared by the commands: load the project, print diagnostics, parse selectors, open the store.
import { BuildContext } from '../exec/context.js';
import { makePlan, type Plan } from '../exec/plan.js';
import { parseSelectors, selectRoots, withDependencies, type Selection } from '../graph/select.js';
import { byPosition, renderDiagnostic, type Diagnostic } from '../manifest/diagnostic.js';
import { readLock } from '../lockfile/lock-file.js';
import { loadProjectState, type ProjectState } from '../store/project-state.js';
import { LayeredCache } from '../store/cache.js';
import { RemoteCache } from '../store/remote/remote-cache.js';
import type { RemoteFlags } from '../store/remote/settings.js';
import { Store } from '../store/store.js';
import { poolSizes } from '../exec/resources.js';
import { EXIT } from './exit-codes.js';
import { allHostsRequested, explicitlyUnbuildable, hostView, unavailableNodes, unbuildableCells, type HostView } from './host-aware.js';
import { loadProject, type Project } from './project.js';
import { setUpToolchain } from './toolchain-setup.js';

/** The CLI's command names (set by main), to tell a mistyped command from a selector. */
export const COMMANDS: string[] = [];

export interface GlobalOptions extends RemoteFlags {
  config?: string;
  tokenFile?: string;
  allHosts?: boolean;
}

export async function load(opts: GlobalOptions): Promise<Project | undefined> {
  const result = await loadProject({ cwd: process.cwd(), config: opts.config, env: process.env, remote: remoteFlags(opts) });
  report(result.ok ? result.value.warnings : result.error);
  return result.ok ? result.value : undefined;
}

/** The remote cache flags of the global options. */
export function remoteFlags(opts: GlobalOptions): RemoteFlags {
  return { remoteCache: opts.remoteCache, remoteCacheReadOnly: opts.remoteCacheReadOnly };
}

export type Loaded =
  | {
      project: Project;
      selected: Set<string>;
      /** The nodes the selectors pick themselves, without their dependencies (what --force re-runs). */
      roots: string[];
      sel: Selection;
      host: HostView;
      unavailable: Map<string, string>;
    }
  | { exit: number };

/**
 * The project and the selected nodes, or the exit code after saying what is wrong. With `skip`
 * (build), cells this host cannot build are left out; otherwise (plan, status) they stay and are
 * listed in `unavailable`.
 */
export async function loadSelected(opts: GlobalOptions, selectors: readonly string[], mode: { skip: boolean } = { skip: false }): Promise<Loaded> {
  const project = await load(opts);
  if (!project) return { exit: EXIT.usage };
  return selectIn(project, opts, selectors, mode);
}

/** The selected nodes of a loaded project (see loadSelected). */
export async function selectIn(project: Project, opts: GlobalOptions, selectors: readonly string[], mode: { skip: boolean }): Promise<Loaded> {
  const sel = parseSelectors(selectors, project.graph, project.manifest, COMMANDS);
  if (!sel.ok) return fail(sel.error, EXIT.usage);
  const host = await hostView(project, allHostsRequested(opts.allHosts, process.env), process.env);
  if (mode.skip) {
    const explicit = explicitlyUnbuildable(project, sel.value, host);
    if (explicit) return fail(explicit, EXIT.stepFailed);
  }
  const roots = selectRoots(project.graph, project.manifest, sel.value, mode.skip ? unbuildableCells(project, host) : new Set());
  if (!roots.ok) return fail(roots.error, EXIT.usage);
  const selected = withDependencies(project.graph, roots.value);
  return { project, selected, roots: roots.value, sel: sel.value, host, unavailable: mode.skip ? new Map() : unavailableNodes(project, host) };
}

function fail(message: string, exit: number): { exit: number } {
  process.stderr.write(`mlc-build: ${message}\n`);
  return { exit };
}

/** The plan of the selected nodes, read-only (plan and status write nothing but the stat cache). */
export async function readOnlyPlan(project: Project, selected: ReadonlySet<string>, unavailable: ReadonlyMap<string, string> = new Map()): Promise<Plan> {
  const ctx = await openContext(project, { readOnly: true });
  const plan = await makePlan(ctx, selected, unavailable);
  await ctx.cache.flush();
  await ctx.store.close();
  return plan;
}

export async function openContext(
  project: Project,
  opts: { readOnly: boolean; verify?: boolean; update?: boolean; tokenFile?: string; signal?: AbortSignal },
  /** Watch mode: the store and project state its rebuilds share. */
  shared?: { store: Store; state: ProjectState },
): Promise<BuildContext> {
  const { manifest } = project;
  // A managed toolchain: a build installs it (once per machine); a look uses the lock's pins.
  await setUpToolchain(project, { install: !opts.readOnly, update: opts.update, signal: opts.signal });
  const store = shared?.store ?? (await Store.open(manifest.cache, { readOnly: opts.readOnly }));
  const state = shared?.state ?? (await loadProjectState(manifest.cache, manifest.root));
  const lock = await readLock(manifest.root);
  // Results are looked up in the local store, then the remote cache; a look (plan, status) uploads nothing.
  const remote = project.remote
    ? new RemoteCache(opts.readOnly ? { ...project.remote, readOnly: true } : project.remote, {
        concurrency: poolSizes(manifest, { cpus: 1, gpus: 0 }).net,
        storeRoot: manifest.cache,
      })
    : undefined;
  return new BuildContext(
    manifest,
    project.graph,
    store,
    project.toolchain,
    process.env,
    state,
    { verify: opts.verify ?? false, update: opts.update, tokenFile: opts.tokenFile },
    lock,
    new LayeredCache(store, remote ? [remote] : []),
  );
}

export function report(diags: readonly Diagnostic[]): void {
  const sorted = [...diags].sort(byPosition);
  for (const d of sorted) process.stderr.write(renderDiagnostic(d) + '\n');
  const errors = sorted.filter((d) => d.severity === 'error').length;
  if (errors > 1) process.stderr.write(`${errors} errors\n`);
}

export const SELECTOR_HELP = `
Selectors pick what to act on; each brings in what it depends on:
  model=NAME[,NAME]   cells of these models (their libraries and weights folders)
  quant=Q[,Q]         cells of these quantizations
  target=T[,T]        cells of these targets
  step=KIND[,KIND]    download, convert, config or compile nodes
  NODE_ID             one node, e.g. compile:Llama-2-7b-chat-hf/q4f16_1/cuda`;
