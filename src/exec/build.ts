// The build loop: nodes start when their dependencies are done, at most `jobs` at a time, in graph
// order. Fail-fast by default (start nothing new, let running steps finish); keep-going builds every
// node that does not depend on a failure.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { StepNode } from '../graph/nodes.js';
import { updateLock } from '../sources/lock.js';
import { isAlive } from '../store/process-alive.js';
import { saveProjectState } from '../store/project-state.js';
import type { Builder, Files } from './builder.js';
import type { Result } from '../result.js';
import type { ActionRecord } from '../store/store.js';
import type { Emit, FinishStatus, StepFailure } from './events.js';

export interface BuildOptions {
  jobs: number;
  keepGoing: boolean;
  signal: AbortSignal;
  /** Nodes that cannot run here (from Builder.preflight): they fail without stopping the others. */
  blocked?: ReadonlyMap<string, string>;
}

export interface BuildOutcome {
  counts: Record<FinishStatus, number>;
  ms: number;
}

export async function runBuild(b: Builder, selected: ReadonlySet<string>, opts: BuildOptions, emit: Emit): Promise<BuildOutcome> {
  const started = Date.now();
  const order = [...b.graph.nodes.values()].filter((n) => selected.has(n.id));
  const done = new Map<string, Files>();
  const statusOf = new Map<string, FinishStatus>();
  const counts: Record<FinishStatus, number> = { ran: 0, cached: 0, fresh: 0, failed: 0, skipped: 0, interrupted: 0 };
  const pending = new Set(order.map((n) => n.id));
  let active = 0;
  let stopping = false;
  // -j bounds the steps that execute; deciding and restoring (stat calls, links) run alongside.
  const slots = new Slots(opts.jobs);
  // Runs under way by key: a node whose key is being built by another waits for that run.
  const inflight = new Map<string, { node: string; run: Promise<Result<ActionRecord, StepFailure> | 'not started'> }>();

  const finish = (node: StepNode, status: FinishStatus, t0: number, extra: { reason?: string; failure?: StepFailure } = {}) => {
    statusOf.set(node.id, status);
    counts[status]++;
    if (status === 'failed' && !opts.keepGoing) stopping = true;
    emit({ event: 'finish', node: node.id, kind: node.kind, status, ms: Date.now() - t0, ...extra });
  };

  const process1 = async (node: StepNode): Promise<void> => {
    const t0 = Date.now();
    const blocked = opts.blocked?.get(node.id);
    if (blocked !== undefined) {
      statusOf.set(node.id, 'failed');
      counts.failed++;
      emit({ event: 'finish', node: node.id, kind: node.kind, status: 'failed', ms: 0, failure: { message: blocked, preflight: true } });
      return;
    }
    emit({ event: 'start', node: node.id, kind: node.kind });
    try {
      const d = await b.decide(node, done);
      switch (d.kind) {
        case 'waits':
          throw new Error(`${node.id} started before ${d.deps.join(', ')}`);
        case 'unavailable':
          return finish(node, 'failed', t0, { failure: { message: d.detail ? `${d.reason}: ${d.detail}` : d.reason } });
        case 'fetch': {
          if (node.kind !== 'download') throw new Error(`${node.id}: only downloads fetch`);
          let last = 0;
          const r = await b.fetch(node, (bytes, total) => {
            // At most one progress event per MiB (and the last one).
            if (bytes - last >= 1 << 20 || bytes === total) {
              last = bytes;
              const seconds = Math.max(0.001, (Date.now() - t0) / 1000);
              emit({ event: 'progress', node: node.id, bytes, total, rate: Math.round(bytes / seconds) });
            }
          });
          if (!r.ok) return finish(node, opts.signal.aborted ? 'interrupted' : 'failed', t0, { failure: { message: r.error } });
          await b.place(node, b.placements(node, r.value.files));
          done.set(node.id, r.value.files);
          b.noteKey(node, r.value.key, r.value.fields);
          return finish(node, 'ran', t0);
        }
        case 'source': {
          await b.place(node, b.placements(node, d.files));
          done.set(node.id, d.files);
          const fresh = b.state.nodes[node.id]?.key === d.key;
          b.noteKey(node, d.key, d.fields);
          return finish(node, fresh ? 'fresh' : 'ran', t0);
        }
        case 'step': {
          if (d.record && d.placed) {
            done.set(node.id, b.recordFiles(d.record));
            b.noteKey(node, d.key, d.fields, d.record.outputs);
            b.notePlaced(node, b.placements(node, b.recordFiles(d.record)));
            return finish(node, 'fresh', t0);
          }
          let record = d.record;
          let status: FinishStatus = 'cached';
          if (!record) {
            const shared = inflight.get(d.key);
            const run =
              shared?.run ??
              slots.use(async () => {
                // Decided before a slot was free: the build may have stopped since.
                if (stopping || opts.signal.aborted) return 'not started' as const;
                const r = await b.run(node, d.key, d.fields, d.spec);
                // Before the slot passes on, so the next waiter sees that the build stops.
                if (!r.ok && !opts.keepGoing) stopping = true;
                return r;
              });
            if (!shared) inflight.set(d.key, { node: node.id, run });
            const r = await run;
            if (r === 'not started') {
              return opts.signal.aborted
                ? finish(node, 'interrupted', t0, { reason: 'the build was interrupted' })
                : finish(node, 'skipped', t0, { reason: 'the build stopped after a failure' });
            }
            if (!r.ok) {
              if (shared) return finish(node, 'skipped', t0, { reason: `the same step failed as ${shared.node}` });
              return finish(node, opts.signal.aborted ? 'interrupted' : 'failed', t0, { failure: r.error });
            }
            record = r.value;
            status = shared ? 'cached' : 'ran';
          }
          const files = b.recordFiles(record);
          await b.place(node, b.placements(node, files));
          done.set(node.id, files);
          b.noteKey(node, d.key, d.fields, record.outputs);
          return finish(node, status, t0);
        }
      }
    } catch (e) {
      finish(node, 'failed', t0, { failure: { message: (e as Error).message } });
    }
  };

  // Ready-counting: each node waits for its unfinished dependencies; a finish wakes its dependents.
  const waitingOn = new Map(order.map((n) => [n.id, n.deps.length]));
  const dependents = new Map<string, StepNode[]>();
  for (const n of order) for (const d of n.deps) dependents.set(d, [...(dependents.get(d) ?? []), n]);
  const ready: StepNode[] = order.filter((n) => n.deps.length === 0);

  await new Promise<void>((resolve) => {
    const settle = (node: StepNode) => {
      for (const dep of dependents.get(node.id) ?? []) {
        const left = (waitingOn.get(dep.id) ?? 0) - 1;
        waitingOn.set(dep.id, left);
        if (left === 0) ready.push(dep);
      }
    };
    const pump = () => {
      while (ready.length > 0) {
        const node = ready.shift() as StepNode;
        pending.delete(node.id);
        const blocked = node.deps.find((dep) => {
          const s = statusOf.get(dep);
          return s === 'failed' || s === 'skipped' || s === 'interrupted';
        });
        if (blocked || stopping || opts.signal.aborted) {
          // It can no longer start: a dependency failed, or the build is stopping.
          const status: FinishStatus = opts.signal.aborted ? 'interrupted' : 'skipped';
          statusOf.set(node.id, status);
          counts[status]++;
          const why = blocked ? `${blocked} ${statusOf.get(blocked)}` : opts.signal.aborted ? 'the build was interrupted' : 'the build stopped after a failure';
          emit({ event: 'finish', node: node.id, kind: node.kind, status, ms: 0, reason: why });
          settle(node);
          continue;
        }
        active++;
        void process1(node).finally(() => {
          active--;
          settle(node);
          pump();
        });
      }
      if (pending.size === 0 && active === 0) resolve();
    };
    opts.signal.addEventListener('abort', pump, { once: true });
    pump();
  });

  if (!opts.signal.aborted) {
    await sweep(b, done);
    await lockSources(b, done);
  }
  if (b.stateChanged) await saveProjectState(b.store.root, b.state);
  await b.store.close();
  return { counts, ms: Date.now() - started };
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

/** At most `n` holders at a time, first come first served. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
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
      const pid = Number(/\.mlc-build-(\d+)\.tmp$/.exec(name)?.[1]);
      if (pid && pid !== process.pid && !isAlive(pid)) await rm(join(dir, name), { force: true });
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
