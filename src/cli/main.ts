// mlc-build's command line: parse argv, call the layers, map results to output and exit codes.
import { Command, CommanderError, Option } from 'commander';
import { byPosition, renderDiagnostic, type Diagnostic } from '../manifest/diagnostic.js';
import { makePlan } from '../exec/plan.js';
import { GRAPH_FORMATS, renderGraph, type GraphFormat } from '../graph/render.js';
import { parseSelectors, selectNodes } from '../graph/select.js';
import { planCommands, planJson, planTable } from '../report/plan-text.js';
import { EXIT } from './exit-codes.js';
import { loadProject, type Project } from './project.js';

interface GlobalOptions {
  config?: string;
}

const SELECTOR_HELP = `
Selectors pick what to show; each brings in what it depends on:
  model=NAME[,NAME]   cells of these models (their libraries and weights folders)
  quant=Q[,Q]         cells of these quantizations
  target=T[,T]        cells of these targets
  step=KIND[,KIND]    download, convert, config or compile nodes
  NODE_ID             one node, e.g. compile:Llama-2-7b-chat-hf/q4f16_1/cuda`;

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('mlc-build')
    .description('Build MLC LLM model libraries: models × quantizations × targets, incrementally.')
    .option('-c, --config <file>', 'manifest file (default: mlc.build.yaml, found from the current folder up)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run mlc-build --help for usage)');

  let exitCode: number = EXIT.ok;

  program
    .command('plan')
    .description('show every step a build would run, why, and its mlc_llm command; runs nothing')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('--json', 'one JSON object: {"nodes":[{id, kind, deps, state, reason, argv, env, outputs}]}')
    .option('--commands', 'the plan as shell lines (what you would type by hand)')
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], opts: { json?: boolean; commands?: boolean }) => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) return void (exitCode = EXIT.usage);
      const selected = select(project, selectors);
      if (!selected) return void (exitCode = EXIT.usage);
      const plan = makePlan(project.manifest, project.graph, selected, project.toolchain.argv);
      process.stdout.write(opts.json ? planJson(plan) : opts.commands ? planCommands(plan, process.cwd()) : planTable(plan));
    });

  program
    .command('graph')
    .description('draw the build graph')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .addOption(new Option('-f, --format <format>', 'output format').choices(GRAPH_FORMATS).default('dot'))
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], opts: { format: GraphFormat }) => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) return void (exitCode = EXIT.usage);
      const selected = select(project, selectors);
      if (!selected) return void (exitCode = EXIT.usage);
      process.stdout.write(renderGraph(project.graph, selected, opts.format));
    });

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    throw e;
  }
  return exitCode;
}

async function load(opts: GlobalOptions): Promise<Project | undefined> {
  const result = await loadProject({ cwd: process.cwd(), config: opts.config, env: process.env });
  const diags = result.ok ? result.value.warnings : result.error;
  report(diags);
  return result.ok ? result.value : undefined;
}

function select(project: Project, selectors: readonly string[]): Set<string> | undefined {
  const sel = parseSelectors(selectors, project.graph, project.manifest);
  const nodes = sel.ok ? selectNodes(project.graph, project.manifest, sel.value) : sel;
  if (!nodes.ok) {
    process.stderr.write(`mlc-build: ${nodes.error}\n`);
    return undefined;
  }
  return nodes.value;
}

function report(diags: readonly Diagnostic[]): void {
  const sorted = [...diags].sort(byPosition);
  for (const d of sorted) process.stderr.write(renderDiagnostic(d) + '\n');
  const errors = sorted.filter((d) => d.severity === 'error').length;
  if (errors > 1) process.stderr.write(`${errors} errors\n`);
}
