import { existsSync } from 'node:fs';
import { Costs } from '../../ci/cost.js';
import { parseShard, shardCells, type ShardSpec } from '../../ci/shard.js';
import { downloadId } from '../../graph/nodes.js';
import { withDependencies } from '../../graph/select.js';
import { kindFacts } from '../../steps/index.js';
import {
  allHostsRequested,
  buildSelected,
  EXIT,
  lockProject,
  readOnlyPlan,
  skipText,
  type BuildFlags,
  type GlobalOptions,
  type HostView,
  type Project,
  writableFolderProblem,
} from '../../app/index.js';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { displayPath } from '../../display-path.js';
import { loadSelected, SELECTOR_HELP } from '../context.js';
import { planTable } from '../../report/plan-text.js';
import { diagnosticsText } from '../../report/diagnostics.js';
import type { NoopRequest } from '../../app/noop-stamp.js';
import { stampable, type ReadRequest } from '../noop-request.js';

interface BuildCommandFlags extends BuildFlags {
  wait: boolean;
  shard?: string;
  jobs?: string;
  dryRun?: boolean;
  force?: boolean;
  question?: boolean;
}

export function registerBuild(program: Command, setExit: (code: number) => void, read: ReadRequest | undefined): void {
  program
    .command('build', { isDefault: true })
    .description('build what changed (the default command)')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('-j, --jobs <n>', 'run at most N steps at once, over all pools (default: no cap beyond the pools)')
    .option('-k, --keep-going', 'after a failure, still build everything that does not depend on it')
    .option('--json', 'NDJSON events on stdout: start, run, progress, finish, warning, then one summary')
    .option('--verify', 're-hash every input, output and stored blob instead of trusting the stat cache')
    .option('--update', 're-resolve hub revisions instead of using the commits pinned in mlc.build.lock')
    .option('--profile <file>', 'write a Chrome trace-event file of the build (open it in ui.perfetto.dev)')
    .option('-n, --dry-run', 'print the plan (what would run, and why) instead of building')
    .option('-q, --question', 'run nothing, print nothing: exit 0 if everything selected is up to date, 1 if something would run (as make -q)')
    .option('-B, --force', 're-run the steps the selectors pick (all without selectors) even when fresh; their dependencies build as usual')
    .option('--no-wait', 'fail at once if another build of this project is running, instead of waiting for it')
    .option('--shard <i/n>', 'build the i-th of n balanced slices of the selected compile cells, with their configs (never weights); for CI and job arrays')
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], flags: BuildCommandFlags) => {
      const shard = flags.shard === undefined ? undefined : parseShard(flags.shard);
      if (typeof shard === 'string') {
        process.stderr.write(`mlc-build: ${shard}\n`);
        setExit(EXIT.usage);
        return;
      }
      const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
        process.stderr.write(`mlc-build: --jobs must be a positive integer, got ${flags.jobs}\n`);
        setExit(EXIT.usage);
        return;
      }
      // A shard is a slice of every selected cell, whatever this host can build: every machine
      // computes the same slices from the manifest and the lock alone.
      const loaded = await loadSelected(program.opts<GlobalOptions>(), selectors, { skip: shard === undefined });
      if ('exit' in loaded) {
        setExit(loaded.exit);
        return;
      }
      const { project } = loaded;
      let { selected } = loaded;
      const skipped = shard ? undefined : skipText(project, loaded.sel, loaded.host, selected);
      if (skipped) process.stderr.write(skipped);
      const { manifest } = project;
      if (shard && flags.dryRun) {
        selected = shardSelection(project, selected, shard);
        process.stderr.write(shardCellsText(project, selected, loaded.host));
      }
      if (flags.dryRun) {
        process.stdout.write(planTable(await readOnlyPlan(project, selected, loaded.unavailable)));
        return;
      }
      if (flags.question) {
        const plan = await readOnlyPlan(project, selected, loaded.unavailable);
        setExit(plan.nodes.every((n) => n.state === 'fresh' || n.state === 'unavailable') ? EXIT.ok : EXIT.stepFailed);
        return;
      }

      // Found before any step runs: a --profile folder that does not exist, an out/ that cannot be written.
      if (flags.profile !== undefined && !existsSync(dirname(resolve(flags.profile)))) {
        process.stderr.write(`mlc-build: --profile ${flags.profile}: the folder ${dirname(resolve(flags.profile))} does not exist\n`);
        setExit(EXIT.usage);
        return;
      }
      const unwritable = writableFolderProblem(manifest.out);
      if (unwritable) {
        process.stderr.write(
          `mlc-build: cannot write to the output folder ${displayPath(manifest.out, process.cwd())}: ${unwritable} (change out: in the manifest, or its permissions)\n`,
        );
        setExit(EXIT.usage);
        return;
      }
      const locked = await lockProject(manifest, flags.wait);
      if (!locked.ok) {
        setExit(locked.error);
        return;
      }
      try {
        if (shard) {
          // Every job must compute the same slices: each model's config.json (the cost's model
          // size) is fetched first where it is not here yet.
          const metas = neededMeta(project, selected);
          if (metas.size > 0) {
            const meta = await buildSelected(project, metas, { ...flags, profile: undefined }, program.opts<GlobalOptions>(), { jobs, force: undefined });
            if (meta.exit !== EXIT.ok) {
              setExit(meta.exit);
              return;
            }
          }
          selected = shardSelection(project, selected, shard);
          // The slice is the same on every machine; a cell of it this host cannot build is the runner's mistake.
          const foreign = foreignCells(project, selected, loaded.host);
          if (foreign.length > 0) {
            process.stderr.write(foreignShardText(shard, foreign));
            setExit(EXIT.usage);
            return;
          }
          process.stderr.write(`mlc-build: shard ${shard.index}/${shard.count}: ${librariesIn(project, selected)} libraries\n`);
        }
        const global = program.opts<GlobalOptions>();
        const asked: NoopRequest = { command: 'build', selectors, allHosts: allHostsRequested(global.allHosts, process.env), json: flags.json === true };
        const built = await buildSelected(project, selected, flags, global, {
          jobs,
          force: flags.force ? new Set(loaded.roots) : undefined,
          ...(shard === undefined && stampable(read, asked, manifest)
            ? { noop: { request: asked, before: diagnosticsText(project.warnings) + (skipped ?? ''), host: loaded.host.reads } }
            : {}),
        });
        setExit(built.exit);
      } finally {
        await locked.value.release();
      }
    });
}

/** The shard's compile nodes and what they need (configs, the small meta downloads): never weights. */
function shardSelection(project: Project, selected: ReadonlySet<string>, shard: ShardSpec): Set<string> {
  const { manifest, graph } = project;
  const cells = manifest.cells.filter((c) => selected.has(graph.cells.get(c.id)?.compile ?? ''));
  const mine = shardCells(cells, new Costs(manifest, graph), shard.count)[shard.index - 1] ?? [];
  return withDependencies(
    graph,
    mine.map((c) => graph.cells.get(c.id)?.compile ?? ''),
  );
}

/** How many of the selected nodes make a library. */
function librariesIn(project: Project, selected: ReadonlySet<string>): number {
  return [...selected].filter((id) => {
    const node = project.graph.nodes.get(id);
    return node !== undefined && kindFacts(node.kind).makes === 'library';
  }).length;
}

/** The meta downloads of the selected cells' models whose config.json is not on this machine yet. */
function neededMeta(project: Project, selected: ReadonlySet<string>): Set<string> {
  const { manifest, graph } = project;
  const models = new Set(manifest.cells.filter((c) => selected.has(graph.cells.get(c.id)?.compile ?? '')).map((c) => c.model));
  const ids = [...models].filter((m) => !existsSync(join(graph.snapshotDirs.get(m) ?? '', 'config.json'))).map((m) => downloadId(m, 'meta'));
  return new Set(ids.filter((id) => graph.nodes.has(id)));
}

/** The shard's cells that this host cannot build, with what it lacks and the runner that can. */
function foreignCells(project: Project, selected: ReadonlySet<string>, host: HostView): { cell: string; lacks: string; runner: string }[] {
  const targets = new Map(project.manifest.targets.map((t) => [t.name, t]));
  return project.manifest.cells.flatMap((c) => {
    const lacks = host.missing.get(c.target);
    if (lacks === undefined || !selected.has(project.graph.cells.get(c.id)?.compile ?? '')) return [];
    const runner = targets.get(c.target)?.runner ?? 'ubuntu-latest';
    return [{ cell: c.id, lacks, runner: Array.isArray(runner) ? runner.join(', ') : runner }];
  });
}

function foreignShardText(shard: ShardSpec, foreign: readonly { cell: string; lacks: string; runner: string }[]): string {
  const lines = foreign.map((f) => `  ${f.cell}: needs ${f.lacks} (runner ${f.runner})\n`).join('');
  return `mlc-build: shard ${shard.index}/${shard.count} holds cells this host cannot build; run it on their runner, or pass --all-hosts to try anyway:\n${lines}`;
}

/** -n of a shard: its cells, those this host cannot build marked. */
function shardCellsText(project: Project, selected: ReadonlySet<string>, host: HostView): string {
  const foreign = new Map(foreignCells(project, selected, host).map((f) => [f.cell, f]));
  const cells = project.manifest.cells.filter((c) => selected.has(project.graph.cells.get(c.id)?.compile ?? ''));
  const lines = cells.map((c) => {
    const f = foreign.get(c.id);
    return `  ${c.id}${f ? `  (not on this host: needs ${f.lacks}; runner ${f.runner})` : ''}\n`;
  });
  return `mlc-build: ${cells.length} cells in this shard:\n${lines.join('')}`;
}
