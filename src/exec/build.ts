// The build loop: drives the scheduler (scheduler.ts) with real steps. A ready node is decided at
// once (stat calls, no slot); only a node that must execute (a step run or a download) asks the
// scheduler for its pool's slots. Fail-fast by default (start nothing new, let running steps
// finish); keep-going builds every node that does not depend on a failure.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { NodeKind, StepNode } from '../graph/nodes.js';
import { updateLock } from '../sources/lock.js';
import { Durations } from '../store/durations.js';
import { leftByDeadProcess } from '../store/process-alive.js';
import { saveProjectState } from '../store/project-state.js';
import type { Builder, Files } from './builder.js';
import { capacity, schedulerTasks, type Machine } from './resources.js';
import { Scheduler, type Task, type TaskOutcome } from './scheduler.js';
import type { Result } from '../result.js';
import type { ActionRecord } from '../store/store.js';
import type { Emit, FinishStatus, KindTotals, StepFailure } from './events.js';

export interface BuildOptions {
  jobs: number;
  keepGoing: boolean;
  signal: AbortSignal;
  machine: Machine;
  /** Nodes that cannot run here (from Builder.preflight): they fail without stopping the others. */
  blocked?: ReadonlyMap<string, string>;
}

export interface BuildOutcome {
  counts: Record<FinishStatus, number>;
  kinds: Partial<Record<NodeKind, KindTotals>>;
  ms: number;
}

export async function runBuild(b: Builder, selected: ReadonlySet<string>, opts: BuildOptions, emit: Emit): Promise<BuildOutcome> {
  const started = Date.now();
  const order = [...b.graph.nodes.values()].filter((n) => selected.has(n.id));
  const byId = new Map(order.map((n) => [n.id, n]));
  const done = new Map<string, Files>();
  const statusOf = new Map<string, FinishStatus>();
  const counts: Record<FinishStatus, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
  const kinds: Partial<Record<NodeKind, KindTotals>> = {};
  const durations = Durations.load(b.store.root);
  const cap = capacity(b.manifest, opts.machine, opts.jobs);
  const taskList = schedulerTasks(order, b.manifest, cap.pools, (n, fallback) => durations.expected(n.id, fallback));
  const tasks = new Map<string, Task>(taskList.map((t) => [t.id, t]));
  const sched = new Scheduler(taskList, cap, { keepGoing: opts.keepGoing });
  // Drivers waiting for their resources, resolved true on a grant and false when the build stops.
  const grants = new Map<string, (granted: boolean) => void>();
  const lanes = new Lanes();
  const laneOf = new Map<string, number>();
  // Runs under way by key: a node whose key is being built by another waits for that run.
  const inflight = new Map<string, { node: string; run: Promise<Result<ActionRecord, StepFailure> | 'not started'> }>();
  let active = 0;

  const finish = (node: StepNode, status: FinishStatus, t0: number, extra: { reason?: string; failure?: StepFailure; ranMs?: number } = {}) => {
    statusOf.set(node.id, status);
    counts[status]++;
    const k = (kinds[node.kind] ??= { ran: 0, cached: 0, fresh: 0, failed: 0, ms: 0 });
    if (status === 'ran' || status === 'cached' || status === 'fresh' || status === 'failed') k[status]++;
    k.ms += extra.ranMs ?? 0;
    emit({ event: 'finish', node: node.id, kind: node.kind, status, ms: Date.now() - t0, ...(extra.reason ? { reason: extra.reason } : {}), ...(extra.failure ? { failure: extra.failure } : {}) });
  };

  /** Waits for the node's pool slots; false if the build stopped first (the scheduler reports it skipped). */
  const acquire = (node: StepNode): Promise<number | undefined> =>
    new Promise((resolve) => {
      if (!sched.request(node.id)) return resolve(undefined);
      grants.set(node.id, (granted) => {
        if (!granted) return resolve(undefined);
        const slot = lanes.take();
        const task = tasks.get(node.id) as Task;
        emit({ event: 'run', node: node.id, kind: node.kind, slot, pool: task.pool });
        resolve(slot);
      });
      pump();
    });

  /** Runs `work` holding the node's slots; 'not started' if the build stopped before they were free. */
  const execute = async <T>(node: StepNode, work: () => Promise<T>): Promise<{ value: T; ms: number } | 'not started'> => {
    const slot = await acquire(node);
    if (slot === undefined) return 'not started';
    laneOf.set(node.id, slot); // held, like the pool's slots, until the node has finished
    const t = Date.now();
    return { value: await work(), ms: Date.now() - t };
  };

  // 'reported': the scheduler skipped the node while it waited for slots (and reports it itself).
  const process1 = async (node: StepNode): Promise<TaskOutcome | 'reported'> => {
    const t0 = Date.now();
    const blocked = opts.blocked?.get(node.id);
    if (blocked !== undefined) {
      finish(node, 'failed', t0, { failure: { message: blocked, preflight: true } });
      return 'skipped'; // its dependents cannot run, but the others go on
    }
    emit({ event: 'start', node: node.id, kind: node.kind });
    const failed = (message: string): TaskOutcome => {
      finish(node, opts.signal.aborted ? 'interrupted' : 'failed', t0, { failure: { message } });
      return opts.signal.aborted ? 'interrupted' : 'failed';
    };
    try {
      const d = await b.decide(node, done);
      switch (d.kind) {
        case 'waits':
          throw new Error(`${node.id} started before ${d.deps.join(', ')}`);
        case 'unavailable':
          return failed(d.detail ? `${d.reason}: ${d.detail}` : d.reason);
        case 'fetch': {
          if (node.kind !== 'download') throw new Error(`${node.id}: only downloads fetch`);
          let last = 0;
          let fetching = t0;
          const ran = await execute(node, () => {
            fetching = Date.now(); // the rate counts from the download's start, not its wait for a net slot
            return b.fetch(node, (bytes, total) => {
              // At most one progress event per MiB (and the last one).
              if (bytes - last >= 1 << 20 || bytes === total) {
                last = bytes;
                const seconds = Math.max(0.001, (Date.now() - fetching) / 1000);
                emit({ event: 'progress', node: node.id, bytes, total, rate: Math.round(bytes / seconds) });
              }
            });
          });
          if (ran === 'not started') return 'reported';
          const r = ran.value;
          if (!r.ok) return failed(r.error);
          await b.place(node, b.placements(node, r.value.files));
          done.set(node.id, r.value.files);
          b.noteKey(node, r.value.key, r.value.fields);
          durations.learn(node.id, ran.ms);
          finish(node, 'ran', t0, { ranMs: ran.ms });
          return 'ok';
        }
        case 'source': {
          await b.place(node, b.placements(node, d.files));
          done.set(node.id, d.files);
          const fresh = b.state.nodes[node.id]?.key === d.key;
          b.noteKey(node, d.key, d.fields);
          finish(node, fresh ? 'fresh' : 'ran', t0);
          return 'ok';
        }
        case 'step': {
          if (d.record && d.placed) {
            done.set(node.id, b.recordFiles(d.record));
            b.noteKey(node, d.key, d.fields, d.record.outputs);
            b.notePlaced(node, b.placements(node, b.recordFiles(d.record)));
            finish(node, 'fresh', t0);
            return 'ok';
          }
          let record = d.record;
          let status: FinishStatus = 'cached';
          let ranMs = 0;
          if (!record) {
            const shared = inflight.get(d.key);
            const run =
              shared?.run ??
              execute(node, () => b.run(node, d.key, d.fields, d.spec)).then((r) => {
                if (r === 'not started') return r;
                if (r.value.ok) {
                  ranMs = r.value.value.durationMs;
                  durations.learn(node.id, ranMs);
                }
                return r.value;
              });
            if (!shared) inflight.set(d.key, { node: node.id, run });
            const r = await run;
            if (r === 'not started') {
              if (!shared) return 'reported';
              finish(node, opts.signal.aborted ? 'interrupted' : 'skipped', t0, { reason: `the same step was not started as ${shared.node}` });
              return 'skipped';
            }
            if (!r.ok) {
              if (shared) {
                finish(node, 'skipped', t0, { reason: `the same step failed as ${shared.node}` });
                return 'skipped';
              }
              finish(node, opts.signal.aborted ? 'interrupted' : 'failed', t0, { failure: r.error });
              return opts.signal.aborted ? 'interrupted' : 'failed';
            }
            record = r.value;
            status = shared ? 'cached' : 'ran';
          }
          const files = b.recordFiles(record);
          await b.place(node, b.placements(node, files));
          done.set(node.id, files);
          b.noteKey(node, d.key, d.fields, record.outputs);
          finish(node, status, t0, { ranMs });
          return 'ok';
        }
      }
    } catch (e) {
      return failed((e as Error).message);
    }
  };

  let allDone = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  function pump(): void {
    // Nodes that can no longer start: a dependency did not finish, or the build stopped.
    for (const skip of sched.takeSkipped()) {
      const node = byId.get(skip.id) as StepNode;
      const waiting = grants.get(skip.id);
      grants.delete(skip.id);
      const status: FinishStatus = opts.signal.aborted ? 'interrupted' : 'skipped';
      const why = skip.because ? `${skip.because} ${statusOf.get(skip.because) ?? 'skipped'}` : opts.signal.aborted ? 'the build was interrupted' : 'the build stopped after a failure';
      finish(node, status, Date.now(), { reason: why });
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
    if (sched.finished && active === 0) allDone();
  }
  opts.signal.addEventListener(
    'abort',
    () => {
      sched.stop();
      pump();
    },
    { once: true },
  );
  pump();
  await finished;

  if (!opts.signal.aborted) {
    await sweep(b, done);
    await lockSources(b, done);
  }
  if (b.stateChanged) await saveProjectState(b.store.root, b.state);
  await durations.save();
  await b.store.touch([...done.keys()].filter((id) => byId.get(id)?.kind !== 'download').map((id) => b.state.nodes[id]?.key as string));
  await b.store.close();
  return { counts, kinds, ms: Date.now() - started };
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

/** Records in mlc.build.lock what each source this build read resolved to. */
async function lockSources(b: Builder, done: ReadonlyMap<string, Files>): Promise<void> {
  const kinds = new Map(b.manifest.models.map((m) => [m.source.text, m.source.kind]));
  const resolved = new Map<string, { part: 'meta' | 'weights'; files: Record<string, string>; commit?: string; revision?: string }[]>();
  for (const [id, files] of done) {
    const node = b.graph.nodes.get(id);
    if (node?.kind !== 'download') continue;
    const source = b.manifest.models.find((m) => m.id === node.model)?.source.text as string;
    const digests = Object.fromEntries(Object.entries(files).map(([n, f]) => [n, f.digest]));
    const pinned = b.resolvedCommits.get(source) ?? (b.lock.sources[source]?.commit ? { commit: b.lock.sources[source]?.commit, revision: b.lock.sources[source]?.revision } : undefined);
    resolved.set(source, [...(resolved.get(source) ?? []), { part: node.part, files: digests, ...pinned }]);
  }
  await updateLock(b.manifest.root, kinds, resolved);
}

/**
 * Removes from out/ what this tool placed there and the manifest no longer names: files of nodes
 * that left the graph, and files a node rebuilt this time no longer produces. A file someone else
 * changed since is left alone, and so is every file the tool did not place.
 */
async function sweep(b: Builder, done: ReadonlyMap<string, Files>): Promise<void> {
  const keep = new Set<string>();
  for (const [path, p] of Object.entries(b.state.placed)) {
    if (b.graph.nodes.has(p.node) && !done.has(p.node)) keep.add(path);
  }
  for (const [id, files] of done) {
    const node = b.graph.nodes.get(id);
    if (node) for (const p of b.placements(node, files)) keep.add(p.dest);
  }
  await removeDeadTemps(new Set([...keep, ...Object.keys(b.state.placed)].map((p) => dirname(p))));
  for (const [path, p] of Object.entries(b.state.placed)) {
    if (keep.has(path)) continue;
    delete b.state.placed[path];
    b.stateChanged = true;
    const current = await b.store.stats.digest(path).catch(() => undefined);
    if (current?.digest !== p.digest) continue;
    await rm(path, { force: true });
    b.store.stats.forget(path);
    await removeEmptyDirs(dirname(path), b.manifest.out);
  }
}

/** Temp files of placements (`<dest>.mlc-build-<pid>.tmp`) left by a build that was killed. */
async function removeDeadTemps(dirs: ReadonlySet<string>): Promise<void> {
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (leftByDeadProcess(name, /\.mlc-build-(\d+)\.tmp$/)) await rm(join(dir, name), { force: true });
    }
  }
}

async function removeEmptyDirs(dir: string, stop: string): Promise<void> {
  while (relative(stop, dir) !== '' && !relative(stop, dir).startsWith('..')) {
    if ((await readdir(dir).catch(() => ['?'])).length > 0) return;
    await rmdir(dir).catch(() => undefined);
    dir = dirname(dir);
  }
}
