// src/exec/ owns running a build: a node's evaluation (evaluate.ts), its run as a state machine
// (node-run.ts), one step in its staging folder (run-step.ts), the pure scheduler and its slots,
// watch's takeover policy, the tally of results and the event stream. This file is the driver.
//
// The build: drives the scheduler (scheduler.ts) and one NodeRun per node (node-run.ts). A ready
// node is evaluated at once (stat calls, no slot); only a node that must execute (a step run or a
// download) asks for its pool's slots (slots.ts). Fail-fast by default (start nothing new, let
// running steps finish); keep-going builds every node that does not depend on a failure. In watch
// mode the takeover policy (takeover.ts) decides what becomes of earlier rebuilds' steps. At the
// end: the sweep of out/, the lock file, the project state — each classified if the disk refuses.
import { relative, sep } from 'node:path';
import type { StepNode } from '../graph/nodes.js';
import type { KeyFields } from '../keys.js';
import { err, ok, type Result } from '../result.js';
import { environmentFailure, type StepFailure } from '../failure.js';
import { updateLock } from '../sources/source-pins.js';
import type { Pin, SourceFiles } from '../sources/source.js';
import { stepOf, type Action, type NodeKind } from '../steps/index.js';
import type { CacheHit, CacheReport } from '../store/cache.js';
import { Durations } from '../store/durations.js';
import { sweep } from '../store/outputs.js';
import { saveProjectState } from '../store/project-state.js';
import type { ActionRecord, Files, Tree } from '../store/store.js';
import type { BuildContext } from './context.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { Emit, FinishStatus, KindTotals, OutputFile, SummaryEvent } from './events.js';
import { NodeRun, type Adoptable, type NodeRunHost, type SharedRun, type Timed } from './node-run.js';
import { commandOf } from './plan.js';
import { capacity, schedulerTasks, type Machine } from './resources.js';
import { runStep } from './run-step.js';
import { Scheduler, type Task } from './scheduler.js';
import { Slots } from './slots.js';
import { Tally, type NodeResult, type ResultDetails } from './tally.js';
import { Takeover, type WatchRebuild } from './takeover.js';

export type { NodeResult } from './tally.js';
export type { WatchRebuild } from './takeover.js';

export interface BuildOptions {
  jobs: number;
  keepGoing: boolean;
  /** Stops the build: nothing new starts, running steps get SIGTERM. */
  signal: AbortSignal;
  /** Kills running steps at once (a second Ctrl-C). */
  kill?: AbortSignal;
  machine: Machine;
  /** Nodes that cannot run here (from BuildContext.preflight): they fail without stopping the others. */
  blocked?: ReadonlyMap<string, string>;
  /** Steps that may be restored from a cache but never run here, and why (another machine's libraries). */
  restoreOnly?: ReadonlyMap<string, string>;
  /** Steps to run even when fresh or in the cache (-B). */
  force?: ReadonlySet<string>;
  /** Watch mode: what the session's rebuilds share (see takeover.ts). */
  watch?: WatchRebuild;
}

export interface BuildOutcome {
  counts: Record<FinishStatus, number>;
  kinds: Partial<Record<NodeKind, KindTotals>>;
  ms: number;
  results: Map<string, NodeResult>;
  /** A bug inside the engine happened (reported as an internal error, naming the node). */
  internalErrors: number;
  /** What the build could not write after its steps (the disk refused): reported as warnings, exit 1. */
  problems: StepFailure[];
  /** What each remote cache moved (its uploads finished before the build ended). */
  remote: CacheReport[];
}

export interface BuildHandle {
  done: Promise<BuildOutcome>;
  /** Stops one executing node (its process group, its staging); the others go on. False if it is not executing. */
  cancel(node: string): boolean;
  /**
   * A later rebuild takes over (watch mode): start nothing new, place nothing more, report nothing
   * more; running steps go on (the registry decides their fate). Settles once no placement is under way.
   */
  supersede(): Promise<void>;
}

/** The summary event of a build. */
export function summaryEvent(outcome: BuildOutcome): SummaryEvent {
  const r = outcome.remote[0];
  return {
    event: 'summary',
    counts: outcome.counts,
    kinds: outcome.kinds,
    ms: outcome.ms,
    ...(r
      ? {
          remote: {
            server: r.server,
            hits: r.hits,
            fetched_bytes: r.fetchedBytes,
            uploaded_bytes: r.uploadedBytes,
            uploads: r.uploads,
            upload_failures: r.uploadFailures,
          },
        }
      : {}),
  };
}

export function runBuild(ctx: BuildContext, selected: ReadonlySet<string>, opts: BuildOptions, emit: Emit): Promise<BuildOutcome> {
  return startBuild(ctx, selected, opts, emit).done;
}

export function startBuild(ctx: BuildContext, selected: ReadonlySet<string>, opts: BuildOptions, emit: Emit): BuildHandle {
  const build = new Build(ctx, selected, opts, emit);
  return { done: build.run(), cancel: (id) => build.slots.cancel(id), supersede: () => build.supersede() };
}

class Build implements NodeRunHost {
  readonly slots: Slots;
  readonly takeover?: Takeover;
  readonly sharedRuns = new Map<string, SharedRun>();
  private readonly started = Date.now();
  private readonly nodes: Map<string, StepNode>;
  private readonly tasks: Map<string, Task>;
  private readonly scheduler: Scheduler;
  private readonly tally: Tally;
  private readonly durations: Durations;
  /** Outputs of the nodes that finished, readable by their dependents. */
  private readonly available = new Map<string, Files>();
  private readonly pins = new Map<string, Pin[]>();
  private readonly recordKeys = new Set<string>();
  /** Placements under way, so a rebuild that supersedes this one places after them, never under them. */
  private readonly placing = new Set<Promise<unknown>>();
  private active = 0;
  private superseded = false;
  private allDone = () => {};

  constructor(
    private readonly ctx: BuildContext,
    private readonly selected: ReadonlySet<string>,
    private readonly opts: BuildOptions,
    private readonly reported: Emit,
  ) {
    ctx.cache.onWarning((message) => this.emit({ event: 'warning', message }));
    ctx.building = selected;
    this.nodes = new Map([...ctx.graph.nodes.values()].filter((n) => selected.has(n.id)).map((n) => [n.id, n]));
    this.durations = Durations.load(ctx.store.root);
    const cap = capacity(ctx.manifest, opts.machine, opts.jobs);
    const taskList = schedulerTasks([...this.nodes.values()], ctx.manifest, cap.pools, (n, fallback) => this.durations.expected(n.id, fallback));
    this.tasks = new Map(taskList.map((t) => [t.id, t]));
    this.scheduler = new Scheduler(taskList, cap, { keepGoing: opts.keepGoing });
    this.tally = new Tally(this.emit);
    const pump = () => this.pump();
    const watch = opts.watch;
    this.slots = new Slots(this.scheduler, this.tasks, this.emit, opts.signal, pump, watch ? (n, t, r) => this.takeover?.register(n, t, r) : undefined);
    if (watch) this.takeover = new Takeover(watch, this.scheduler, this.slots, this.emit, pump);
    opts.signal.addEventListener(
      'abort',
      () => {
        this.scheduler.stop();
        this.pump();
      },
      { once: true },
    );
  }

  /** Events stop once a later rebuild has taken over. */
  readonly emit: Emit = (e) => {
    if (!this.superseded) this.reported(e);
  };

  async run(): Promise<BuildOutcome> {
    const finished = new Promise<void>((resolve) => (this.allDone = resolve));
    this.takeover?.releaseOutside(this.selected);
    this.pump();
    await finished;
    this.takeover?.dispose();
    // Uploads end before the build does: the summary counts them, and a CI job's results are shared when it exits.
    const remote = await this.ctx.cache.flush();
    const problems = this.superseded ? [] : await this.close();
    const { counts, kinds, results, internalErrors } = this.tally;
    return { counts, kinds, ms: Date.now() - this.started, results, internalErrors, problems, remote };
  }

  async supersede(): Promise<void> {
    this.superseded = true;
    this.scheduler.stop();
    this.pump();
    await Promise.allSettled([...this.placing]);
  }

  private pump(): void {
    // Nodes that can no longer start: a dependency did not finish, or the build stopped. Never
    // started, so skipped (interrupted is only for what was running).
    for (const skip of this.scheduler.takeSkipped()) {
      const why = skip.because
        ? `${skip.because} ${this.tally.statusOf(skip.because) ?? 'skipped'}`
        : this.opts.signal.aborted
          ? 'the build was interrupted'
          : 'the build stopped after a failure';
      this.tally.finish(this.node(skip.id), 'skipped', 0, { reason: why });
      this.slots.refuse(skip.id);
    }
    for (const task of this.scheduler.takeReady()) {
      const node = this.node(task.id);
      this.active++;
      void new NodeRun(node, this).run().then((end) => {
        this.active--;
        this.slots.finished(node.id);
        if (end !== 'reported') this.scheduler.finish(node.id, end);
        this.pump();
      });
    }
    this.slots.grantReady();
    if (!this.superseded) this.takeover?.freeHeldSlots(this.tasks);
    if (this.scheduler.finished && this.active === 0) this.allDone();
  }

  /** After the steps: sweep out/, write the lock and the project state. A disk that refuses is reported, not a bug. */
  private async close(): Promise<StepFailure[]> {
    const problems: StepFailure[] = [];
    const attempt = async (doing: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (e) {
        const failure = environmentFailure(e, doing);
        if (!failure) throw e;
        problems.push(failure);
        this.emit({ event: 'warning', message: `${failure.message}; ${failure.advice ?? ''}`.replace(/; $/, '') });
      }
    };
    const { ctx } = this;
    if (!this.opts.signal.aborted) {
      await attempt('removing outputs the manifest no longer names from out/', async () => {
        if (await sweep(ctx.store.stats, ctx.state, this.keptPlacements(), ctx.manifest.out)) ctx.stateChanged = true;
      });
      const kinds = new Map(ctx.manifest.models.map((m) => [m.source.text, m.source.kind]));
      await attempt('writing mlc.build.lock', () => updateLock(ctx.manifest.root, kinds, this.pins));
    }
    if (ctx.stateChanged) await attempt('saving the project state in the store', () => saveProjectState(ctx.store.root, ctx.state));
    await attempt('saving step durations in the store', () => this.durations.save());
    await attempt('noting the results used in the store', () => ctx.store.touch(this.recordKeys));
    await attempt('closing the store', () => ctx.store.close());
    return problems;
  }

  /** What the graph still names and this build did not redo, and what this build placed. */
  private keptPlacements(): Set<string> {
    const keep = new Set<string>();
    const { ctx } = this;
    const digestsOf = new Map<string, Set<string> | undefined>();
    for (const [path, p] of Object.entries(ctx.state.placed)) {
      if (!ctx.graph.nodes.has(p.node)) continue;
      if (!digestsOf.has(p.node)) {
        const files = this.available.get(p.node);
        digestsOf.set(p.node, files && new Set(Object.values(files).map((f) => f.digest)));
      }
      const digests = digestsOf.get(p.node);
      // Not redone, or the same bytes this build's run made, placed where this build does not place
      // (a variant folder of a cell only --all-hosts builds): kept.
      if (!digests || digests.has(p.digest)) keep.add(path);
    }
    for (const [id, files] of this.available) {
      const node = ctx.graph.nodes.get(id);
      if (node) for (const p of stepOf(node).placements(ctx, files)) keep.add(p.dest);
    }
    return keep;
  }

  private node(id: string): StepNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`internal: ${id} is not in the build`);
    return node;
  }

  // ── NodeRunHost: what a node's run asks of the build ──────────────────────────────────────────

  finish(node: StepNode, status: FinishStatus, ms: number, details?: ResultDetails): void {
    this.tally.finish(node, status, ms, details);
  }

  async evaluate(node: StepNode): Promise<Evaluation> {
    const ev = await evaluate(this.ctx, node, this.available);
    if (ev.kind === 'step') this.recordKeys.add(ev.key);
    return ev;
  }

  blocked(node: StepNode): string | undefined {
    return this.opts.blocked?.get(node.id);
  }

  restoreOnly(node: StepNode): string | undefined {
    return this.opts.restoreOnly?.get(node.id);
  }

  forced(node: StepNode): boolean {
    return this.opts.force?.has(node.id) === true;
  }

  stopping(): boolean {
    return this.opts.signal.aborted;
  }

  stoppedWhileRunning(node: StepNode): boolean {
    return this.slots.stopped(node.id);
  }

  execute<T>(node: StepNode, work: (signal: AbortSignal) => Promise<T>, adoptable?: Adoptable<T>): Promise<Timed<T> | 'not started'> {
    return this.slots.execute(node, work, adoptable);
  }

  runStep(node: StepNode, key: string, fields: KeyFields, action: Action, signal: AbortSignal): Promise<Result<ActionRecord, StepFailure>> {
    return runStep(this.ctx, node, key, fields, action, { signal, kill: this.opts.kill });
  }

  async fetch(node: StepNode, signal: AbortSignal, onProgress: (bytes: number, total: number) => void): Promise<Result<SourceFiles, StepFailure>> {
    const fetch = stepOf(node).fetch;
    if (!fetch) throw new Error(`${node.id}: its kind cannot fetch`);
    const r = await fetch(this.ctx, { signal, onProgress });
    return r.ok ? r : err({ reason: 'source-unreachable', message: r.error });
  }

  async place(node: StepNode, files: Files): Promise<Result<'placed' | 'superseded', StepFailure>> {
    if (this.superseded) return ok('superseded');
    const placing = this.ctx.place(node, stepOf(node).placements(this.ctx, files));
    this.placing.add(placing);
    try {
      const placed = await placing;
      return placed.ok ? ok('placed') : placed;
    } finally {
      this.placing.delete(placing);
    }
  }

  placedOutputs(node: StepNode, files: Files): OutputFile[] {
    const sizes = new Map(Object.values(files).map((f) => [f.digest, f.size]));
    const out = this.ctx.manifest.out;
    return stepOf(node)
      .placements(this.ctx, files)
      .map((p) => ({ path: relative(out, p.dest).split(sep).join('/'), digest: p.digest, size: sizes.get(p.digest) ?? 0 }));
  }

  filesOf(record: ActionRecord): Files {
    return this.ctx.store.filesOf(record);
  }

  remember(node: StepNode, key: string, files: Files, kept: { fields: KeyFields; pin: Pin } | { outputs: Tree }): void {
    this.available.set(node.id, files);
    if ('pin' in kept) {
      this.ctx.noteKey(node, key, { fields: kept.fields });
      const source = this.ctx.model(node.model).source.text;
      this.pins.set(source, [...(this.pins.get(source) ?? []), kept.pin]);
    } else {
      this.ctx.noteKey(node, key, { outputs: kept.outputs });
    }
  }

  keepInPlace(node: StepNode, hit: CacheHit & { local: Files }): void {
    this.ctx.notePlaced(node, stepOf(node).placements(this.ctx, hit.local));
    this.ctx.cache.offer(hit.record);
  }

  offer(record: ActionRecord): void {
    this.ctx.cache.offer(record);
  }

  learnDuration(node: StepNode, ms: number): void {
    this.durations.learn(node.id, ms);
  }

  userCommand(node: StepNode): Pick<StepFailure, 'argv' | 'env' | 'setup'> | undefined {
    const planned = commandOf(this.ctx, node.id);
    return planned.argv ? { argv: planned.argv, env: planned.env, setup: planned.setup } : undefined;
  }

  logPath(node: StepNode): string {
    return this.ctx.store.logPath(node.id);
  }
}
