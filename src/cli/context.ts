// What the commands share on top of src/app/: load the project or the selection and print what is
// wrong, the command names, the selector help.
import { EXIT, loadProjectFor, selectIn, type GlobalOptions, type Project, type Selected } from '../app/index.js';
import { printDiagnostics } from '../report/diagnostics.js';
import { NODE_KINDS } from '../steps/index.js';

import { COMMANDS } from './command-names.js';

export { COMMANDS };

/** The project, or undefined after printing why it cannot be loaded (its warnings are printed too). */
export async function load(opts: GlobalOptions): Promise<Project | undefined> {
  const result = await loadProjectFor(opts);
  printDiagnostics(result.ok ? result.value.warnings : result.error);
  return result.ok ? result.value : undefined;
}

export type Loaded = Selected | { exit: number };

/**
 * The project and the selected nodes, or the exit code after saying what is wrong. With `skip`
 * (build), cells this host cannot build are left out; otherwise (plan, status) they stay and are
 * listed in `unavailable`.
 */
export async function loadSelected(opts: GlobalOptions, selectors: readonly string[], mode: { skip: boolean } = { skip: false }): Promise<Loaded> {
  const project = await load(opts);
  if (!project) return { exit: EXIT.usage };
  const selected = await selectIn(project, { selectors, commands: COMMANDS, skip: mode.skip, allHosts: opts.allHosts });
  if ('problem' in selected) {
    process.stderr.write(`mlc-build: ${selected.problem}\n`);
    return { exit: selected.exit };
  }
  return selected;
}

/** The selectors a command takes, for its --help: cells only (matrix), or nodes too. */
export function selectorHelp(takes: { steps: boolean }): string {
  const lines = [
    '',
    takes.steps ? 'Selectors pick what to act on; each brings in what it depends on:' : 'Selectors pick cells of the matrix:',
    '  model=NAME[,NAME]   cells of these models (their libraries and weights folders)',
    '  quant=Q[,Q]         cells of these quantizations',
    '  target=T[,T]        cells of these targets',
  ];
  if (takes.steps) {
    lines.push(`  step=KIND[,KIND]    ${NODE_KINDS.join(', ')} nodes`, '  NODE_ID             one node, e.g. compile:Llama-2-7b-chat-hf/q4f16_1/cuda');
  }
  lines.push("  A value may be a glob: model='llama*' target='metal*' (quote it from the shell).");
  return lines.join('\n');
}

export const SELECTOR_HELP = selectorHelp({ steps: true });
