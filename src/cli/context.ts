// Shared by the commands: load the project, print diagnostics, parse selectors, open the store.
import { BuildContext } from '../exec/context.js';
import { makePlan, type Plan } from '../exec/plan.js';
import { parseSelectors, selectNodes } from '../graph/select.js';
import { byPosition, renderDiagnostic, type Diagnostic } from '../manifest/diagnostic.js';
import { readLock } from '../sources/lock.js';
import { loadProjectState } from '../store/project-state.js';
import { Store } from '../store/store.js';
import { loadProject, type Project } from './project.js';

export interface GlobalOptions {
  config?: string;
  tokenFile?: string;
}

export async function load(opts: GlobalOptions): Promise<Project | undefined> {
  const result = await loadProject({ cwd: process.cwd(), config: opts.config, env: process.env });
  report(result.ok ? result.value.warnings : result.error);
  return result.ok ? result.value : undefined;
}

export function select(project: Project, selectors: readonly string[]): Set<string> | undefined {
  const sel = parseSelectors(selectors, project.graph, project.manifest);
  const nodes = sel.ok ? selectNodes(project.graph, project.manifest, sel.value) : sel;
  if (!nodes.ok) {
    process.stderr.write(`mlc-build: ${nodes.error}\n`);
    return undefined;
  }
  return nodes.value;
}

/** The project and the selected nodes, or undefined after saying what is wrong (exit 2). */
export async function loadSelected(opts: GlobalOptions, selectors: readonly string[]): Promise<{ project: Project; selected: Set<string> } | undefined> {
  const project = await load(opts);
  const selected = project && select(project, selectors);
  return project && selected ? { project, selected } : undefined;
}

/** The plan of the selected nodes, read-only (plan and status create nothing on disk). */
export async function readOnlyPlan(project: Project, selected: ReadonlySet<string>): Promise<Plan> {
  const ctx = await openContext(project, { readOnly: true });
  const plan = await makePlan(ctx, selected);
  await ctx.store.close();
  return plan;
}

export async function openContext(
  project: Project,
  opts: { readOnly: boolean; verify?: boolean; update?: boolean; tokenFile?: string },
): Promise<BuildContext> {
  const { manifest } = project;
  const store = await Store.open(manifest.cache, { readOnly: opts.readOnly });
  const state = await loadProjectState(manifest.cache, manifest.root);
  const lock = await readLock(manifest.root);
  return new BuildContext(
    manifest,
    project.graph,
    store,
    project.toolchain,
    process.env,
    state,
    { verify: opts.verify ?? false, update: opts.update, tokenFile: opts.tokenFile },
    lock,
  );
}

function report(diags: readonly Diagnostic[]): void {
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
