import { Option, type Command } from 'commander';
import { GRAPH_FORMATS, renderGraph, type GraphFormat } from '../../graph/render.js';
import { planCommands, planJson, planTable } from '../../report/plan-text.js';
import { readOnlyPlan, type GlobalOptions } from '../../app/index.js';
import { loadSelected, SELECTOR_HELP } from '../context.js';

export function registerPlan(program: Command, setExit: (code: number) => void): void {
  program
    .command('plan')
    .description('show every step a build would run, why, and its mlc_llm command; runs nothing')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('--json', 'one JSON object: {"nodes":[{id, kind, deps, state, reason, argv, env, outputs}]}')
    .option('--commands', 'the plan as shell lines (what you would type by hand)')
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], opts: { json?: boolean; commands?: boolean }) => {
      const loaded = await loadSelected(program.opts<GlobalOptions>(), selectors);
      if ('exit' in loaded) {
        setExit(loaded.exit);
        return;
      }
      const { project, selected, unavailable } = loaded;
      const plan = await readOnlyPlan(project, selected, unavailable);
      process.stdout.write(opts.json ? planJson(plan) : opts.commands ? planCommands(plan, process.cwd()) : planTable(plan));
    });

  program
    .command('graph')
    .description('draw the build graph')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .addOption(new Option('-f, --format <format>', 'output format').choices(GRAPH_FORMATS).default('dot'))
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], opts: { format: GraphFormat }) => {
      const loaded = await loadSelected(program.opts<GlobalOptions>(), selectors);
      if ('exit' in loaded) {
        setExit(loaded.exit);
        return;
      }
      process.stdout.write(renderGraph(loaded.project.graph, loaded.selected, opts.format));
    });
}
