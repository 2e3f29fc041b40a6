// `mlc-build matrix --format github|gitlab|json`: the jobs a CI runs for the selected cells, each
// with its runner and the arguments it passes to `mlc-build build`. `--only-missing` builds the
// (cheap) configs first, so the compile keys are known, then asks the remote cache which
// libraries it has, and emits only the rest.
import { appendFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { Costs } from '../../ci/cost.js';
import { planJobs, stageUnit, type GroupBy, type Job } from '../../ci/jobs.js';
import { emsdkScript, webRuntimeScript } from '../../ci/web-runtime.js';
import { evaluate } from '../../exec/evaluate.js';
import { makePlan } from '../../exec/plan.js';
import { downloadId } from '../../graph/nodes.js';
import { partOf } from '../../sources/files.js';
import type { Files } from '../../store/store.js';
import { cellsMatching, parseSelectors, withDependencies } from '../../graph/select.js';
import type { Cell } from '../../manifest/types.js';
import { ciRecipe } from '../../recipes/index.js';
import { ciStages } from '../../steps/index.js';
import { allHostsRequested, buildSelected, EXIT, foreignKeys, hostView, lockProject, openContext, type GlobalOptions, type Project } from '../../app/index.js';
import { COMMANDS, load, selectorHelp } from '../context.js';

interface MatrixFlags {
  format: string;
  groupBy: string;
  maxJobs?: string;
  stage: string;
  onlyMissing?: boolean;
}

export function registerMatrix(program: Command, setExit: (code: number) => void): void {
  const stages = ciStages();
  const stageNames = stages.map((s) => s.kind).join(' or ');
  program
    .command('matrix')
    .description('the CI jobs for the selected cells: each with its runner and its mlc-build build arguments')
    .argument('[selectors...]', 'model=, quant=, target= (default: every cell)')
    .option('--format <format>', 'github (strategy.matrix JSON), gitlab (a child pipeline) or json', 'github')
    .option('--group-by <how>', 'one job per target, per model (split by runner) or per cell', 'target')
    .option('--max-jobs <n>', 'at most N jobs (GitHub allows 256, GitLab 200); groups of one runner are merged to fit')
    .option('--stage <stage>', stages.map((s) => `${s.kind} (${s.builds})`).join(' or '), stages[0]?.kind)
    .option('--only-missing', 'only the cells whose libraries the remote cache lacks (builds the configs first)')
    .addHelpText('after', selectorHelp({ steps: false }))
    .action(async (selectors: string[], flags: MatrixFlags) => {
      const usage = (m: string) => {
        process.stderr.write(`mlc-build: matrix: ${m}\n`);
        setExit(EXIT.usage);
      };
      const format = flags.format;
      if (format !== 'github' && format !== 'gitlab' && format !== 'json') {
        usage(`--format must be github, gitlab or json, got ${JSON.stringify(format)}`);
        return;
      }
      if (!['cell', 'target', 'model'].includes(flags.groupBy)) {
        usage(`--group-by must be cell, target or model, got ${JSON.stringify(flags.groupBy)}`);
        return;
      }
      const stage = stages.find((s) => s.kind === flags.stage)?.kind;
      if (stage === undefined) {
        usage(`--stage must be ${stageNames}, got ${JSON.stringify(flags.stage)}`);
        return;
      }
      const limit = format === 'json' ? Infinity : ciRecipe().job_limits[format];
      const asked = flags.maxJobs === undefined ? undefined : Number(flags.maxJobs);
      if (asked !== undefined && (!Number.isInteger(asked) || asked < 1)) {
        usage(`--max-jobs must be a positive integer, got ${flags.maxJobs}`);
        return;
      }
      const maxJobs = Math.min(asked ?? limit, limit);

      const global = program.opts<GlobalOptions>();
      const project = await load(global);
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      const sel = parseSelectors(selectors, project.graph, project.manifest, COMMANDS);
      if (!sel.ok) {
        usage(sel.error);
        return;
      }
      if (sel.value.steps || sel.value.ids.length > 0) {
        usage('select cells with model=, quant= and target= (use --stage for conversions)');
        return;
      }
      let cells = cellsMatching(project.manifest, sel.value.dims);
      if (cells.length === 0) {
        usage('the selectors match no cell of the matrix');
        return;
      }

      if (flags.onlyMissing) {
        if (!project.remote) {
          usage('--only-missing asks the remote cache: configure one (remote_cache.url, MLC_BUILD_REMOTE_CACHE or --remote-cache)');
          return;
        }
        const missing = stageUnit(stage) === 'pair' ? await missingConversions(project, global, cells) : await missingCells(project, global, cells);
        if (typeof missing === 'number') {
          setExit(missing);
          return;
        }
        cells = missing;
      }
      const jobs = planJobs(project.manifest, project.graph, cells, new Costs(project.manifest, project.graph), {
        groupBy: flags.groupBy as GroupBy,
        maxJobs,
        stage,
      });
      if (!jobs.ok) {
        usage(jobs.error);
        return;
      }
      const matrix = { include: jobs.value };
      process.stdout.write(format === 'gitlab' ? gitlabPipeline(jobs.value) : `${JSON.stringify(matrix, null, format === 'json' ? 2 : undefined)}\n`);
      const out = process.env.GITHUB_OUTPUT;
      if (format === 'github' && out) {
        appendFileSync(out, `matrix=${JSON.stringify(matrix)}\ncount=${jobs.value.length}\nhas_work=${jobs.value.length > 0}\n`);
      }
    });
}

/**
 * The cells whose libraries are in neither the local store nor the remote cache. The configs are
 * built (or fetched) first: a compile's key needs its mlc-chat-config.json; weights are never
 * touched. A cell this host cannot build has another host's key: it counts as missing.
 */
async function missingCells(project: Project, global: GlobalOptions, cells: readonly Cell[]): Promise<Cell[] | number> {
  const { manifest, graph } = project;
  const host = await hostView(project, allHostsRequested(global.allHosts, process.env), process.env);
  // Another host's cells count by the key that host gives them, where it is known here (a managed toolchain).
  const foreign = await foreignKeys(project, host);
  const here = cells.filter((c) => !host.missing.has(c.target) || foreign.get(c.target)?.ok === true);
  const configs = withDependencies(
    graph,
    here.map((c) => graph.cells.get(c.id)?.config ?? ''),
  );
  if (configs.size > 0) {
    const locked = await lockProject(manifest, true);
    if (!locked.ok) return locked.error;
    try {
      const built = await buildSelected(project, configs, {}, global, { jobs: undefined, force: undefined });
      if (built.exit !== EXIT.ok) return built.exit;
    } finally {
      await locked.value.release();
    }
  }
  const ctx = await openContext(project, { readOnly: true });
  ctx.foreign = foreign;
  try {
    const compiles = new Set(here.map((c) => graph.cells.get(c.id)?.compile ?? ''));
    const plan = await makePlan(ctx, withDependencies(graph, [...compiles]));
    const have = new Set(plan.nodes.filter((n) => compiles.has(n.id) && (n.state === 'fresh' || n.state === 'cached')).map((n) => n.id));
    return cells.filter((c) => !have.has(graph.cells.get(c.id)?.compile ?? ''));
  } finally {
    await ctx.cache.flush();
    await ctx.store.close();
  }
}

/**
 * The cells whose conversions are in neither the local store nor the remote cache. A conversion's
 * key needs its source's files only by digest: those on this machine are hashed, the others come
 * from the pins in mlc.build.lock; the weights are never downloaded (the small meta files are).
 */
async function missingConversions(project: Project, global: GlobalOptions, cells: readonly Cell[]): Promise<Cell[] | number> {
  const { manifest, graph } = project;
  const models = [...new Set(cells.map((c) => c.model))];
  const metas = new Set(models.map((m) => downloadId(m, 'meta')).filter((id) => graph.nodes.has(id)));
  const locked = await lockProject(manifest, true);
  if (!locked.ok) return locked.error;
  try {
    const built = await buildSelected(project, metas, {}, global, { jobs: undefined, force: undefined });
    if (built.exit !== EXIT.ok) return built.exit;
  } finally {
    await locked.value.release();
  }
  const ctx = await openContext(project, { readOnly: true });
  try {
    const available = new Map<string, Files>();
    for (const m of models) {
      for (const part of ['meta', 'weights'] as const) {
        const node = graph.nodes.get(downloadId(m, part));
        if (!node) continue;
        const ev = await evaluate(ctx, node, available);
        if (ev.kind === 'source') available.set(node.id, ev.found.files);
        else if (part === 'weights') {
          const pinned = pinnedFiles(ctx.lock.sources[ctx.model(m).source.text]?.files ?? {}, 'weights');
          if (pinned) available.set(node.id, pinned);
        }
      }
    }
    const have = new Set<string>();
    for (const id of new Set(cells.map((c) => graph.cells.get(c.id)?.convert ?? ''))) {
      const node = graph.nodes.get(id);
      if (!node) continue;
      const ev = await evaluate(ctx, node, available);
      if (ev.kind === 'step' && ev.hit) have.add(id);
    }
    return cells.filter((c) => !have.has(graph.cells.get(c.id)?.convert ?? ''));
  } finally {
    await ctx.cache.flush();
    await ctx.store.close();
  }
}

/** A part's files as the lock pins them: digests only (nothing to read), or none if it pins none. */
function pinnedFiles(files: Record<string, string>, part: 'meta' | 'weights'): Files | undefined {
  const out: Files = {};
  for (const [name, pin] of Object.entries(files)) if (partOf(name) === part) out[name] = { digest: pin.replace(/^sha256:/, ''), size: 0, path: '' };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A GitLab child pipeline: one job per runner label set, its builds as a parallel matrix. */
function gitlabPipeline(jobs: readonly Job[]): string {
  const header = '# Written by `mlc-build matrix --format gitlab`: run it as a child pipeline (trigger: include: artifact:).\n';
  if (jobs.length === 0) {
    return header + stringify({ 'nothing-to-build': { script: ['echo "every library is in the remote cache already"'] } });
  }
  // One job per runner, and apart the builds that need the web runtime: only they set it up.
  const byRunner = new Map<string, Job[]>();
  for (const j of jobs) {
    const key = JSON.stringify([j.runs_on, j.needs_web_runtime]);
    byRunner.set(key, [...(byRunner.get(key) ?? []), j]);
  }
  const doc: Record<string, unknown> = {};
  for (const [key, list] of byRunner) {
    const [runner, web] = JSON.parse(key) as [string | string[], boolean];
    const tags = ([] as string[]).concat(runner);
    doc[`mlc-build ${tags.join(' ')}${web ? ' webgpu' : ''}`] = {
      tags,
      script: ['npm ci', ...(web ? [...emsdkScript(), ...webRuntimeScript()] : []), 'npx mlc-build build $MLC_BUILD_ARGS'],
      parallel: { matrix: [{ MLC_BUILD_ARGS: list.map((j) => j.build) }] },
    };
  }
  return header + stringify(doc);
}
