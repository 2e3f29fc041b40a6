// The build loop: drives the scheduler (scheduler.ts) with real steps. A ready node is evaluated
// at once (stat calls, no slot); only a node that must execute (a step run or a download) asks the
// scheduler for its pool's slots. Fail-fast by default (start nothing new, let running steps
// finish); keep-going builds every node that does not depend on a failure. Each executing node has
// its own stop signal, so one can be cancelled and the others left alone.
import { relative, sep } from 'node:path';
import type { StepNode } from '../graph/nodes.js';
import type { NodeKind } from '../recipes/index.js';
import type { Result } from '../result.js';
import { updateLock } from '../sources/source-pins.js';
import type { Pin } from '../sources/source.js';
import { kindOf } from '../steps/index.js';
import { Durations } from '../store/durations.js';
import { sweep } from '../store/outputs.js';
import { saveProjectState } from '../store/project-state.js';
import type { ActionRecord, Files } from '../store/store.js';
import type { BuildContext } from './context.js';
import { evaluate } from './evaluate.js';
import { commandOf } from './plan.js';
import type { CacheHit, CacheReport } from '../store/cache.js';
import type { BuildEvent, Emit, FinishStatus, KindTotals, OutputFile, StepFailure } from './events.js';
import { capacity, schedulerTasks, type Machine } from './resources.js';
import { runStep } from './run-step.js';
import type { RunningStep, RunningSteps, StepRun } from './running.js';
import { Scheduler, type Task, type TaskOutcome } from './scheduler.js';

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
  /** Watch mode: what the session's rebuilds share (see running.ts). */
  carry?: Carry;
}

/** What the builds of one watch session share. */
export interface Carry {
  running: RunningSteps;
  /** This rebuild's number in the session. */
  generation: number;
  /** What becomes of a running step of an earlier rebuild whose key changed. */
  supersede: (kind: NodeKind) => 'cancel' | 'finish';
  /** Steps that failed with these keys (node → key): reported, not re-run until a key changes. */
  knownFailures: ReadonlyMap<string, string>;
}

/** What became of one node. */
export interface NodeResult {
  node: string;
  kind: NodeKind;
  status: FinishStatus;
  key?: string;
  /** For nodes that ran or were restored: their outputs, paths relative to out/. */
  outputs?: OutputFile[];
  /** The work's own time: the step's run, the download, the restore (never the wait for a slot). */
  ms: number;
  log?: string;
  reason?: string;
  failure?: StepFailure;
  /** Where a restored result came from. */
  source?: string;
}

export interface BuildOutcome {
  counts: Record<FinishStatus, number>;
  kinds: Partial<Record<NodeKind, KindTotals>>;
  ms: number;
  results: Map<string, NodeResult>;
  /** A bug inside the engine happened (reported as an internal error, naming the node). */
  internalErrors: number;
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

type Outcome = TaskOutcome | 'reported';

/** The summary event of a build. */
export function summaryEvent(outcome: BuildOutcome): BuildEvent {
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
  const started = Date.now();
  ctx.cache.onWarning((message) => emit({ event: 'warning', message }));
  const order = [...ctx.graph.nodes.values()].filter((n) => selected.has(n.id));
  const byId = new Map(order.map((n) => [n.id, n]));
  const done = new Map<string, Files>();
  const results = new Map<string, NodeResult>();
  const pins = new Map<string, Pin[]>();
  const recordKeys = new Set<string>();
  const counts: Record<FinishStatus, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
  const kinds: Partial<Record<NodeKind, KindTotals>> = {};
  let internalErrors = 0;
  const durations = Durations.load(ctx.store.root);
  const cap = capacity(ctx.manifest, opts.machine, opts.jobs);
  const taskList = schedulerTasks(order, ctx.manifest, cap.pools, (n, fallback) => durations.expected(n.id, fallback));
  const tasks = new Map<string, Task>(taskList.map((t) => [t.id, t]));
  const sched = new Scheduler(taskList, cap, { keepGoing: opts.keepGoing });
  // Drivers waiting for their resources, resolved true on a grant and false when the build stops.
  const grants = new Map<string, (granted: boolean) => void>();
  const lanes = new Lanes();
  const laneOf = new Map<string, number>();
  /** Stop signals of the nodes executing now. */
  const executing = new Map<string, AbortController>();
  // Runs under way by key: a node whose key is being built by another waits for that run.
  const inflight = new Map<string, { node: string; run: Promise<{ value: Result<ActionRecord, StepFailure>; ms: number } | 'not started'> }>();
  /** Nodes cancelled through the handle. */
  const cancelled = new Set<string>();
  /** True if the node's own stop signal fired (cancelled, or the build stopped). */
  const executingStopped = (node: StepNode) => cancelled.has(node.id) || opts.signal.aborted;
  const out = ctx.manifest.out;
  const relOut = (p: string) => relative(out, p).split(sep).join('/');
  let active = 0;
  const carry = opts.carry;
  let superseded = false;
  // Placements under way, so a rebuild that supersedes this one places after them, never under them.
  const placing = new Set<Promise<void>>();
  const place = async (node: StepNode, files: Files): Promise<boolean> => {
    if (superseded) return false;
    const p = ctx.place(node, kindOf(node).placements(node, ctx, files));
    placing.add(p);
    try {
      await p;
    } finally {
      placing.delete(p);
    }
    return true;
  };
  const reported = emit;
  emit = (e) => {
    if (!superseded) reported(e);
  };
  // Steps of earlier rebuilds hold their slots in this scheduler until they end.
  const held = new Set<RunningStep>();
  const unsubscribe = carry?.running.onEnd((step) => {
    if (!held.delete(step)) return;
    sched.release(step.pool, step.slots);
    pump();
  });
  if (carry) {
    for (const step of carry.running.all()) {
      held.add(step);
      sched.hold(step.pool, step.slots);
    }
  }
  /** A running step of an earlier rebuild for this node, if any. */
  const priorRun = (node: StepNode): RunningStep | undefined => {
    const step = carry?.running.get(node.id);
    return step && step.generation !== carry?.generation ? step : undefined;
  };
  /** An earlier rebuild's step whose result this build does not want: cancel it, or let it finish (policy). */
  const letGo = (step: RunningStep, reason: string): void => {
    if (step.finishing || step.cancelling || !carry) return;
    if (carry.supersede(kindOfId(step.node)) === 'finish') {
      step.finishing = true;
      return;
    }
    cancelStep(step, reason);
  };
  const cancelStep = (step: RunningStep, reason: string): void => {
    step.cancelling = true;
    step.cancel();
    emit({ event: 'cancelled', node: step.node, reason });
  };
  const kindOfId = (id: string): NodeKind => ctx.graph.nodes.get(id)?.kind ?? (id.split(':')[0] as NodeKind);

  const finish = (node: StepNode, status: FinishStatus, ms: number, extra: Omit<NodeResult, 'node' | 'kind' | 'status' | 'ms'> = {}): void => {
    counts[status]++;
    const k = (kinds[node.kind] ??= { ran: 0, cached: 0, fresh: 0, failed: 0, ms: 0 });
    if (status === 'ran' || status === 'cached' || status === 'fresh' || status === 'failed') k[status]++;
    if (status === 'ran' || status === 'failed') k.ms += ms;
    const result: NodeResult = { node: node.id, kind: node.kind, status, ms, ...extra };
    results.set(node.id, result);
    emit({ event: 'finish', ...result });
  };

  /** The node's outputs as placed in out/. */
  const placedOutputs = (node: StepNode, files: Files): OutputFile[] => {
    const sizes = new Map(Object.values(files).map((f) => [f.digest, f.size]));
    return kindOf(node)
      .placements(node, ctx, files)
      .map((p) => ({ path: relOut(p.dest), digest: p.digest, size: sizes.get(p.digest) ?? 0 }));
  };

  /** Waits for the node's pool slots; undefined if the build stopped first (the scheduler reports it skipped). */
  const acquire = (node: StepNode): Promise<number | undefined> =>
    new Promise((resolve) => {
      if (!sched.request(node.id)) return resolve(undefined);
      grants.set(node.id, (granted) => {
        if (!granted) return resolve(undefined);
        const slot = lanes.take();
        emit({ event: 'run', node: node.id, kind: node.kind, slot, pool: (tasks.get(node.id) as Task).pool });
        resolve(slot);
      });
      pump();
    });

  /** Runs `work` holding the node's slots and its own stop signal; the time is the work's alone. */
  const execute = async <T>(
    node: StepNode,
    work: (signal: AbortSignal) => Promise<T>,
    /** The step's key, when it is one a later rebuild may take over. */
    adoptable?: { key: string; result: (timed: Promise<{ value: T; ms: number }>) => Promise<StepRun> },
  ): Promise<{ value: T; ms: number } | 'not started'> => {
    const slot = await acquire(node);
    if (slot === undefined) return 'not started';
    laneOf.set(node.id, slot); // held, like the pool's slots, until the node has finished
    const stop = new AbortController();
    executing.set(node.id, stop);
    const onBuildStop = () => stop.abort();
    if (opts.signal.aborted) stop.abort();
    opts.signal.addEventListener('abort', onBuildStop, { once: true });
    const t = Date.now();
    const timed = work(stop.signal).then((value) => ({ value, ms: Date.now() - t }));
    if (carry) {
      const task = tasks.get(node.id) as Task;
      carry.running.add({
        node: node.id,
        key: adoptable?.key,
        pool: task.pool,
        slots: task.slots,
        generation: carry.generation,
        started: t,
        ended: timed.then(
          () => undefined,
          () => undefined,
        ),
        ...(adoptable ? { result: adoptable.result(timed) } : {}),
        cancel: () => {
          cancelled.add(node.id);
          stop.abort();
        },
        finishing: false,
        cancelling: false,
      });
    }
    try {
      return await timed;
    } finally {
      opts.signal.removeEventListener('abort', onBuildStop);
      executing.delete(node.id);
    }
  };

  // 'reported': the scheduler skipped the node while it waited for slots (and reports it itself).
  const process1 = async (node: StepNode): Promise<Outcome> => {
    const t0 = Date.now();
    const kind = kindOf(node);
    const blocked = opts.blocked?.get(node.id);
    if (blocked !== undefined) {
      finish(node, 'failed', 0, { failure: { message: blocked, preflight: true } });
      return 'skipped'; // its dependents cannot run, but the others go on
    }
    emit({ event: 'start', node: node.id, kind: node.kind });
    const failed = (failure: StepFailure, ms: number, key?: string): TaskOutcome => {
      // The command as a user can re-run it after the build: with out/'s paths, not the staging folder's.
      if (failure.argv) {
        const planned = commandOf(ctx, node.id);
        if (planned.argv) failure = { ...failure, argv: planned.argv, env: planned.env };
      }
      const stopped = failure.stopped === true || (opts.signal.aborted && !failure.internal);
      finish(node, stopped ? 'interrupted' : 'failed', ms, {
        failure,
        ...(key ? { key } : {}),
        ...(failure.log ? { log: failure.log } : {}),
        ...(stopped && !opts.signal.aborted ? { reason: 'cancelled' } : {}),
      });
      return stopped ? 'interrupted' : 'failed';
    };
    /** Records a step's result: placed in out/, its key noted, reported. */
    const recorded = async (key: string, record: ActionRecord, status: 'ran' | 'cached', ms: number, source?: string): Promise<Outcome> => {
      const t = Date.now();
      const files = ctx.store.filesOf(record);
      if (!(await place(node, files))) return 'skipped';
      done.set(node.id, files);
      ctx.noteKey(node, key, { outputs: record.outputs });
      finish(node, status, status === 'ran' ? ms : Date.now() - t, {
        key,
        outputs: placedOutputs(node, files),
        log: ctx.store.logPath(node.id),
        ...(source ? { source } : {}),
      });
      return 'ok';
    };
    try {
      // A download an earlier rebuild started is let finish; what it fetched is then found in place.
      const download = priorRun(node);
      if (download && download.key === undefined) await download.ended;
      let ev = await evaluate(ctx, node, done);
      switch (ev.kind) {
        case 'waits':
          throw new Error(`${node.id} started before ${ev.deps.join(', ')}`);
        case 'unavailable':
          return failed({ message: ev.reason }, Date.now() - t0);
        case 'fetch': {
          if (!kind.fetch) throw new Error(`${node.id}: its kind cannot fetch`);
          const fetchFn = kind.fetch.bind(kind);
          let last = 0;
          let fetching = t0;
          const ran = await execute(node, (signal) => {
            fetching = Date.now(); // the rate counts from the download's start, not its wait for a net slot
            return fetchFn(node, ctx, {
              signal,
              onProgress: (bytes, total) => {
                // At most one progress event per MiB (and the last one).
                if (bytes - last >= 1 << 20 || bytes === total) {
                  last = bytes;
                  const seconds = Math.max(0.001, (Date.now() - fetching) / 1000);
                  emit({ event: 'progress', node: node.id, bytes, total, rate: Math.round(bytes / seconds) });
                }
              },
            });
          });
          if (ran === 'not started') return 'reported';
          const r = ran.value;
          if (!r.ok) return failed({ message: r.error, ...(executingStopped(node) ? { stopped: true } : {}) }, ran.ms);
          if (!(await place(node, r.value.files))) return 'skipped';
          done.set(node.id, r.value.files);
          ctx.noteKey(node, r.value.key, { fields: r.value.fields });
          pins.set(ctx.model(node.model).source.text, [...(pins.get(ctx.model(node.model).source.text) ?? []), r.value.pin]);
          durations.learn(node.id, ran.ms);
          finish(node, 'ran', ran.ms, { key: r.value.key, outputs: placedOutputs(node, r.value.files) });
          return 'ok';
        }
        case 'source': {
          const t = Date.now();
          const { files, key, fields, pin } = ev.found;
          if (!(await place(node, files))) return 'skipped';
          done.set(node.id, files);
          ctx.noteKey(node, key, { fields });
          pins.set(ctx.model(node.model).source.text, [...(pins.get(ctx.model(node.model).source.text) ?? []), pin]);
          finish(node, ev.fresh ? 'fresh' : 'ran', Date.now() - t, { key, ...(ev.fresh ? {} : { outputs: placedOutputs(node, files) }) });
          return 'ok';
        }
        case 'step': {
          recordKeys.add(ev.key);
          const forced = opts.force?.has(node.id) === true;
          // Watch mode: a step of an earlier rebuild for this node, decided by its key.
          const prior = priorRun(node);
          if (prior && (prior.key !== ev.key || prior.finishing)) letGo(prior, 'its key changed');
          if (!forced && carry?.knownFailures.get(node.id) === ev.key) {
            finish(node, 'failed', 0, {
              key: ev.key,
              failure: { message: 'failed before with these inputs; not re-run until one of them changes', log: ctx.store.logPath(node.id) },
            });
            return 'skipped'; // like a preflight failure: its dependents skip, the rebuild goes on
          }
          if (!forced && ev.hit?.local && ev.placed) {
            done.set(node.id, ev.hit.local);
            ctx.noteKey(node, ev.key, { outputs: ev.hit.record.outputs });
            ctx.notePlaced(node, kind.placements(node, ctx, ev.hit.local));
            ctx.cache.offer(ev.hit.record);
            finish(node, 'fresh', Date.now() - t0, { key: ev.key });
            return 'ok';
          }
          // A store hit is restored; found after waiting for an earlier rebuild's run too (its record may be the one wanted).
          const restore = async (hit: CacheHit, key: string): Promise<Outcome | undefined> => {
            const t = Date.now();
            const restored = await hit.restore();
            if (restored.ok) {
              if (!(await place(node, restored.value))) return 'skipped';
              done.set(node.id, restored.value);
              ctx.noteKey(node, key, { outputs: hit.record.outputs });
              if (hit.from === 'local') ctx.cache.offer(hit.record);
              finish(node, 'cached', Date.now() - t, { key, outputs: placedOutputs(node, restored.value), source: hit.from });
              return 'ok';
            }
            emit({ event: 'warning', message: `${node.id}: could not restore from ${hit.from} (${restored.error}); running it` });
            return undefined;
          };
          if (!forced && ev.hit) {
            const restored = await restore(ev.hit, ev.key);
            if (restored) return restored;
          }
          if (prior?.result && prior.key === ev.key && !prior.finishing && !prior.cancelling) {
            // Same key: take the running step over, with the slots it holds; this rebuild reports it.
            prior.adoptedBy = carry?.generation;
            const lane = lanes.take();
            laneOf.set(node.id, lane);
            emit({ event: 'run', node: node.id, kind: node.kind, slot: lane, pool: prior.pool });
            const r = await prior.result;
            if (!r.value.ok) return failed(r.value.error, r.ms, ev.key);
            return recorded(ev.key, r.value.value, 'ran', r.value.value.durationMs);
          }
          if (prior) {
            // Never two runs of one node at once: the new run starts once the old one has ended.
            await prior.ended;
            ev = await evaluate(ctx, node, done);
            if (ev.kind !== 'step') throw new Error(`${node.id} is no longer a step`);
            if (!forced && ev.hit) {
              const restored = await restore(ev.hit, ev.key);
              if (restored) return restored;
            }
          }
          const unbuildable = opts.restoreOnly?.get(node.id);
          if (unbuildable !== undefined) {
            finish(node, 'failed', 0, { key: ev.key, failure: { message: unbuildable, preflight: true } });
            return 'skipped'; // its dependents cannot run, the others go on
          }
          const key = ev.key;
          const { fields, action } = ev;
          const shared = inflight.get(key);
          const run =
            shared?.run ??
            execute(node, (signal) => runStep(ctx, node, key, fields, action, { signal, kill: opts.kill }), { key, result: (timed) => timed }).then((r) => {
              if (r !== 'not started' && r.value.ok) durations.learn(node.id, r.value.value.durationMs);
              return r;
            });
          if (!shared) inflight.set(key, { node: node.id, run });
          const r = await run;
          if (r === 'not started') {
            if (!shared) return 'reported';
            finish(node, 'skipped', 0, { key, reason: `the same step was not started as ${shared.node}` });
            return 'skipped';
          }
          if (!r.value.ok) {
            if (shared) {
              finish(node, 'skipped', 0, { key, reason: `the same step failed as ${shared.node}` });
              return 'skipped';
            }
            return failed(r.value.error, r.ms, key);
          }
          // The node that ran it reports the run's time; one that shared the run, its placing.
          return shared ? recorded(key, r.value.value, 'cached', 0, 'local') : recorded(key, r.value.value, 'ran', r.value.value.durationMs);
        }
      }
    } catch (e) {
      // A bug in mlc-build, not a failure of the step: say so, with the node and the stack.
      internalErrors++;
      return failed(
        { message: `internal error while building ${node.id}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, internal: true },
        Date.now() - t0,
      );
    }
  };

  let allDone = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  function pump(): void {
    // Nodes that can no longer start: a dependency did not finish, or the build stopped. Never
    // started, so skipped (interrupted is only for what was running).
    for (const skip of sched.takeSkipped()) {
      const node = byId.get(skip.id) as StepNode;
      const waiting = grants.get(skip.id);
      grants.delete(skip.id);
      const why = skip.because
        ? `${skip.because} ${results.get(skip.because)?.status ?? 'skipped'}`
        : opts.signal.aborted
          ? 'the build was interrupted'
          : 'the build stopped after a failure';
      finish(node, 'skipped', 0, { reason: why });
      waiting?.(false);
    }
    for (const task of sched.takeReady()) {
      const node = byId.get(task.id) as StepNode;
      active++;
      void process1(node).then((outcome) => {
        active--;
        const lane = laneOf.get(node.id);
        if (lane !== undefined) lanes.give(lane);
        if (outcome !== 'reported') sched.finish(node.id, outcome);
        pump();
      });
    }
    for (const task of sched.grant()) {
      const go = grants.get(task.id);
      grants.delete(task.id);
      go?.(true);
    }
    if (held.size > 0 && !superseded) freeHeldSlots();
    if (sched.finished && active === 0) allDone();
  }
  /**
   * A step that must run waits for a pool whose slots are all held by earlier rebuilds' steps whose
   * keys wait for a step that is queued — maybe the very one waiting for the slot (a compile waiting
   * for its config): cancel one of those rather than wait, one at a time. Any other occupant (a step
   * of this build, one taken over, finishing, being cancelled, or whose inputs are only being
   * decided) ends or is decided by itself.
   */
  function freeHeldSlots(): void {
    const queued = new Set(sched.queued().map((t) => t.id));
    if (queued.size === 0) return;
    const waitsForQueued = (id: string, seen = new Set<string>()): boolean =>
      (tasks.get(id)?.deps ?? []).some((d) => queued.has(d) || (!seen.has(d) && (seen.add(d), waitsForQueued(d, seen))));
    const pending = (s: RunningStep) => s.adoptedBy === undefined && !s.finishing && !s.cancelling && waitsForQueued(s.node);
    for (const pool of sched.blocked()) {
      const inPool = (p: string) => pool === 'jobs' || p === pool;
      if ([...executing.keys()].some((id) => inPool((tasks.get(id) as Task).pool))) continue;
      const occupants = [...held].filter((s) => inPool(s.pool));
      if (!occupants.every(pending)) continue;
      // The one that has run the shortest time: the least work lost.
      const victim = occupants.reduce<RunningStep | undefined>((a, b) => (a === undefined || b.started > a.started ? b : a), undefined);
      if (!victim) continue;
      cancelStep(victim, 'its key waits for a step that needed its slot');
    }
  }

  opts.signal.addEventListener(
    'abort',
    () => {
      sched.stop();
      pump();
    },
    { once: true },
  );

  const run = async (): Promise<BuildOutcome> => {
    // Earlier rebuilds' steps whose node this build does not build: cancelled, or let finish (policy).
    for (const step of held) if (!selected.has(step.node)) letGo(step, 'no longer in the build');
    pump();
    await finished;
    unsubscribe?.();
    // Uploads end before the build does: the summary counts them, and a CI job's results are shared when it exits.
    const remote = await ctx.cache.flush();
    const outcome = (): BuildOutcome => ({ counts, kinds, ms: Date.now() - started, results, internalErrors, remote });
    // A superseded build leaves out/, the lock and the project state to the rebuild that took over.
    if (superseded) return outcome();
    if (!opts.signal.aborted) {
      // Keep what the graph still names and this build did not redo, and what this build placed.
      const keep = new Set<string>();
      for (const [path, p] of Object.entries(ctx.state.placed)) if (ctx.graph.nodes.has(p.node) && !done.has(p.node)) keep.add(path);
      for (const [id, files] of done) {
        const node = ctx.graph.nodes.get(id);
        if (node) for (const p of kindOf(node).placements(node, ctx, files)) keep.add(p.dest);
      }
      if (await sweep(ctx.store.stats, ctx.state, keep, out)) ctx.stateChanged = true;
      await updateLock(ctx.manifest.root, new Map(ctx.manifest.models.map((m) => [m.source.text, m.source.kind])), pins);
    }
    if (ctx.stateChanged) await saveProjectState(ctx.store.root, ctx.state);
    await durations.save();
    await ctx.store.touch(recordKeys);
    await ctx.store.close();
    return outcome();
  };

  return {
    done: run(),
    cancel(id) {
      const stop = executing.get(id);
      if (!stop) return false;
      cancelled.add(id);
      stop.abort();
      return true;
    },
    async supersede() {
      superseded = true;
      sched.stop();
      pump();
      await Promise.allSettled([...placing]);
    },
  };
}

/** Numbered lanes for running steps (the tracks of --profile): the lowest free number is taken. */
class Lanes {
  private readonly used = new Set<number>();
  take(): number {
    let n = 1;
    while (this.used.has(n)) n++;
    this.used.add(n);
    return n;
  }
  give(n: number): void {
    this.used.delete(n);
  }
}
