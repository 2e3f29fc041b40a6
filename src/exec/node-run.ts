// One node's run through a build, as an explicit state machine (after wireit's execution/standard):
//
//   waiting → deciding → fetching | running → placing → done(outcome)
//
// `deciding` evaluates the node: a source is here or must be fetched; a step is fresh in out/, in
// a cache, running in an earlier watch rebuild, or must run. Each outcome has one handler below,
// and every way of producing outputs ends in one `commit` (place in out/, remember the key, report).
// The build (build.ts) only drives the scheduler and these runs; what the run needs of the build
// is the NodeRunHost interface, so the transitions can be tested without a real build.
import type { StepNode } from '../graph/nodes.js';
import type { KeyFields } from '../keys.js';
import type { Result } from '../result.js';
import type { Pin, SourceFiles } from '../sources/source.js';
import type { Action } from '../steps/index.js';
import type { CacheHit } from '../store/cache.js';
import type { ActionRecord, Files, Tree } from '../store/store.js';
import type { Evaluation } from './evaluate.js';
import type { Emit, FinishStatus, OutputFile } from './events.js';
import { failureOf, type StepFailure } from '../failure.js';
import type { RunningStep, StepRun } from './running.js';
import type { TaskOutcome } from './scheduler.js';
import type { ResultDetails } from './tally.js';

export type NodeRunPhase = 'waiting' | 'deciding' | 'fetching' | 'running' | 'placing' | 'done';

/** How a node's run ended. */
export type NodeOutcome =
  /** Already in place in out/ with its current key. */
  | 'fresh'
  /** Restored from the local store or a remote cache. */
  | 'restored'
  /** Its key was built by another node of this build; its outputs were placed from that run. */
  | 'shared'
  /** Ran here (a step or a download), or an earlier rebuild's run of the same key was taken over. */
  | 'ran'
  | 'failed'
  /** Stopped while it ran (the build was interrupted, or watch cancelled it). */
  | 'cancelled'
  /** Never started: the scheduler skipped it while it waited for slots, or a shared run did not start or failed. */
  | 'skipped'
  /** A later watch rebuild took over before its outputs were placed. */
  | 'superseded';

/** The scheduler's view of the end of a run; `reported` when the scheduler skipped it (and reports it itself). */
export type RunEnd = TaskOutcome | 'reported';

export type Timed<T> = { value: T; ms: number };

/** A step's key, and its run's result, as a later watch rebuild may take them over. */
export interface Adoptable<T> {
  key: string;
  result: (timed: Promise<Timed<T>>) => Promise<StepRun>;
}

/** A run of a key under way in this build: another node with the same key waits for it. */
export interface SharedRun {
  node: string;
  run: Promise<StepRun | 'not started'>;
}

/** What a node's run needs of the build it belongs to. */
export interface NodeRunHost {
  emit: Emit;
  finish(node: StepNode, status: FinishStatus, ms: number, details?: ResultDetails): void;
  evaluate(node: StepNode): Promise<Evaluation>;
  /** Why the node cannot run on this machine, decided before the build (reported then). */
  blocked(node: StepNode): string | undefined;
  /** Why the node may be restored from a cache but never run here (another host's library). */
  restoreOnly(node: StepNode): string | undefined;
  /** Run even when fresh or in the cache (-B). */
  forced(node: StepNode): boolean;
  /** The build was told to stop. */
  stopping(): boolean;
  /** True if the node's own stop signal fired (cancelled, or the build stopped). */
  stoppedWhileRunning(node: StepNode): boolean;
  /** Waits for the node's slots, then runs `work` with its own stop signal; the time is the work's alone. */
  execute<T>(node: StepNode, work: (signal: AbortSignal) => Promise<T>, adoptable?: Adoptable<T>): Promise<Timed<T> | 'not started'>;
  runStep(node: StepNode, key: string, fields: KeyFields, action: Action, signal: AbortSignal): Promise<Result<ActionRecord, StepFailure>>;
  fetch(node: StepNode, signal: AbortSignal, onProgress: (bytes: number, total: number) => void): Promise<Result<SourceFiles, StepFailure>>;
  /** Places outputs in out/: `superseded` when a later rebuild took over (nothing placed). */
  place(node: StepNode, files: Files): Promise<Result<'placed' | 'superseded', StepFailure>>;
  /** A record's outputs as readable files (blobs in the store). */
  filesOf(record: ActionRecord): Files;
  /** The outputs as placed in out/, for the finish event. */
  placedOutputs(node: StepNode, files: Files): OutputFile[];
  /** The node's outputs are available to its dependents; its key is noted in the project state. */
  remember(node: StepNode, key: string, files: Files, kept: { fields: KeyFields; pin: Pin } | { outputs: Tree }): void;
  /** A step found in place: noted as placed, and offered to caches that lack it. */
  keepInPlace(node: StepNode, hit: CacheHit & { local: Files }): void;
  /** A result found in the local store, offered to caches that lack it. */
  offer(record: ActionRecord): void;
  learnDuration(node: StepNode, ms: number): void;
  /** The command as a user can re-run it after the build (out/'s paths, not the staging folder's). */
  userCommand(node: StepNode): Pick<StepFailure, 'argv' | 'env' | 'setup'> | undefined;
  logPath(node: StepNode): string;
  /** Runs of a key under way in this build. */
  readonly sharedRuns: Map<string, SharedRun>;
  /** Watch mode: earlier rebuilds' steps, and what to do with them. */
  readonly takeover?: TakeoverPolicy;
}

/** What a node's run asks of watch's takeover policy (takeover.ts). */
export interface TakeoverPolicy {
  /** A step an earlier rebuild started for this node and that still runs. */
  earlierRun(node: string): RunningStep | undefined;
  /** This build does not want that step's result: cancel it, or let it finish (the kind's policy). */
  release(step: RunningStep, reason: string): void;
  /** Takes a running step over (same key), with the slots it holds; returns its lane. */
  adopt(step: RunningStep): number;
  /** True if the step failed before with this key (reported, not re-run until a key changes). */
  failedBefore(node: string, key: string): boolean;
}

type StepEvaluation = Extract<Evaluation, { kind: 'step' }>;

export class NodeRun {
  private current: NodeRunPhase = 'waiting';
  private readonly started = Date.now();
  /** Every phase entered, in order (what tests and traces read). */
  readonly history: NodeRunPhase[] = ['waiting'];
  outcome: NodeOutcome | undefined;

  constructor(
    readonly node: StepNode,
    private readonly host: NodeRunHost,
  ) {}

  get phase(): NodeRunPhase {
    return this.current;
  }

  async run(): Promise<RunEnd> {
    const blocked = this.host.blocked(this.node);
    if (blocked !== undefined) return this.refuse({ reason: 'blocked', message: blocked });
    this.host.emit({ event: 'start', node: this.node.id, kind: this.node.kind });
    try {
      return await this.decide();
    } catch (e) {
      return this.fail(failureOf(e, this.doing(), this.node.id), this.elapsed());
    }
  }

  private async decide(): Promise<RunEnd> {
    this.enter('deciding');
    // A download an earlier rebuild started is let finish; what it fetched is then found in place.
    const download = this.host.takeover?.earlierRun(this.node.id);
    if (download && download.key === undefined) await download.ended;
    const ev = await this.host.evaluate(this.node);
    switch (ev.kind) {
      case 'waits':
        throw new Error(`${this.node.id} started before ${ev.deps.join(', ')}`);
      case 'unavailable':
        return this.fail({ reason: 'unavailable', message: ev.reason }, this.elapsed());
      case 'fetch':
        return this.fetch();
      case 'source':
        return this.takeSource(ev.found, ev.fresh);
      case 'step':
        return this.decideStep(ev);
    }
  }

  // ── sources ──────────────────────────────────────────────────────────────────────────────────

  private async fetch(): Promise<RunEnd> {
    let lastReported = 0;
    let fetching = this.started;
    const ran = await this.host.execute(this.node, (signal) => {
      this.enter('fetching');
      fetching = Date.now(); // the rate counts from the download's start, not its wait for a net slot
      return this.host.fetch(this.node, signal, (bytes, total) => {
        // At most one progress event per MiB (and the last one).
        if (bytes - lastReported < 1 << 20 && bytes !== total) return;
        lastReported = bytes;
        const seconds = Math.max(0.001, (Date.now() - fetching) / 1000);
        this.host.emit({ event: 'progress', node: this.node.id, bytes, total, rate: Math.round(bytes / seconds) });
      });
    });
    if (ran === 'not started') return this.end('skipped', 'reported');
    if (!ran.value.ok) return this.fail(this.stoppedOr(ran.value.error), ran.ms);
    this.host.learnDuration(this.node, ran.ms);
    return this.commitSource(ran.value.value, 'ran', ran.ms);
  }

  private takeSource(found: SourceFiles, fresh: boolean): Promise<RunEnd> {
    return this.commitSource(found, fresh ? 'fresh' : 'ran');
  }

  private commitSource(found: SourceFiles, status: 'ran' | 'fresh', ms?: number): Promise<RunEnd> {
    const { files, key, fields, pin } = found;
    return this.commit({ key, files, kept: { fields, pin }, status, ms, listOutputs: status !== 'fresh' });
  }

  // ── steps ────────────────────────────────────────────────────────────────────────────────────

  private async decideStep(ev: StepEvaluation): Promise<RunEnd> {
    const { host, node } = this;
    const forced = host.forced(node);
    const earlier = host.takeover?.earlierRun(node.id);
    if (earlier && (earlier.key !== ev.key || earlier.finishing)) host.takeover?.release(earlier, 'its key changed');
    if (!forced && host.takeover?.failedBefore(node.id, ev.key)) {
      const failure: StepFailure = {
        reason: 'step-failed',
        message: 'failed before with these inputs; not re-run until one of them changes',
        log: host.logPath(node),
      };
      return this.refuse(failure, ev.key); // its dependents skip, the rebuild goes on
    }
    if (!forced && ev.hit?.local && ev.placed) return this.keepFresh(ev.key, { ...ev.hit, local: ev.hit.local });
    if (!forced && ev.hit) {
      const restored = await this.restore(ev.hit, ev.key);
      if (restored) return restored;
    }
    if (earlier?.result && earlier.key === ev.key && !earlier.finishing && !earlier.cancelling) return this.adopt(earlier, earlier.result, ev.key);
    if (earlier) {
      // Never two runs of one node at once: the new run starts once the old one has ended; its
      // record may be the very one wanted.
      await earlier.ended;
      const again = await host.evaluate(node);
      if (again.kind !== 'step') throw new Error(`${node.id} is no longer a step`);
      ev = again;
      if (!forced && ev.hit) {
        const restored = await this.restore(ev.hit, ev.key);
        if (restored) return restored;
      }
    }
    const unbuildable = host.restoreOnly(node);
    if (unbuildable !== undefined) return this.refuse({ reason: 'blocked', message: unbuildable }, ev.key);
    return this.runOrShare(ev);
  }

  /** Handler: the outputs are in out/ with this key already. */
  private keepFresh(key: string, hit: CacheHit & { local: Files }): RunEnd {
    this.host.remember(this.node, key, hit.local, { outputs: hit.record.outputs });
    this.host.keepInPlace(this.node, hit);
    this.host.finish(this.node, 'fresh', this.elapsed(), { key });
    return this.end('fresh', 'ok');
  }

  /** Handler: a cache hit is restored and placed; undefined when it cannot be (then the step runs). */
  private async restore(hit: CacheHit, key: string): Promise<RunEnd | undefined> {
    const t = Date.now();
    const restored = await hit.restore();
    if (!restored.ok) {
      if (!restored.error.reported)
        this.host.emit({ event: 'warning', message: `${this.node.id}: could not restore from ${hit.from} (${restored.error.message}); running it` });
      return undefined;
    }
    if (hit.from === 'local') this.host.offer(hit.record);
    return this.commit({ key, files: restored.value, kept: { outputs: hit.record.outputs }, status: 'cached', since: t, source: hit.from, as: 'restored' });
  }

  /** Handler: an earlier rebuild runs this very key; this run takes it over and reports it. */
  private async adopt(earlier: RunningStep, result: Promise<StepRun>, key: string): Promise<RunEnd> {
    const lane = this.host.takeover?.adopt(earlier) ?? 0;
    this.enter('running');
    this.host.emit({ event: 'run', node: this.node.id, kind: this.node.kind, slot: lane, pool: earlier.pool });
    const r = await result;
    if (!r.value.ok) return this.fail(r.value.error, r.ms, key);
    return this.commitRun(key, r.value.value);
  }

  /** Handler: the step runs here, or waits for another node of this build that runs the same key. */
  private async runOrShare(ev: StepEvaluation): Promise<RunEnd> {
    const { host, node } = this;
    const { key, fields, action } = ev;
    const shared = host.sharedRuns.get(key);
    const run =
      shared?.run ??
      host
        .execute(
          node,
          (signal) => {
            this.enter('running');
            return host.runStep(node, key, fields, action, signal);
          },
          { key, result: (timed) => timed },
        )
        .then((r) => {
          if (r !== 'not started' && r.value.ok) host.learnDuration(node, r.value.value.durationMs);
          return r;
        });
    if (!shared) host.sharedRuns.set(key, { node: node.id, run });
    const r = await run;
    if (r === 'not started') {
      if (!shared) return this.end('skipped', 'reported');
      return this.skip(key, `the same step was not started as ${shared.node}`);
    }
    if (!r.value.ok) return shared ? this.skip(key, `the same step failed as ${shared.node}`) : this.fail(r.value.error, r.ms, key);
    // The node that ran it reports the run's time; one that shared the run, its placing.
    const record = r.value.value;
    if (shared)
      return this.commit({
        key,
        files: this.host.filesOf(record),
        kept: { outputs: record.outputs },
        status: 'cached',
        source: 'local',
        log: true,
        as: 'shared',
      });
    return this.commitRun(key, record);
  }

  private commitRun(key: string, record: ActionRecord): Promise<RunEnd> {
    return this.commit({ key, files: this.host.filesOf(record), kept: { outputs: record.outputs }, status: 'ran', ms: record.durationMs, log: true });
  }

  // ── the one commit, and the ends ───────────────────────────────────────────────────────────

  /** Places the outputs in out/, remembers the key, reports the node: the end of every run that produced outputs. */
  private async commit(c: {
    key: string;
    files: Files;
    kept: { fields: KeyFields; pin: Pin } | { outputs: Tree };
    status: 'ran' | 'cached' | 'fresh';
    /** The work's time; else the time since `since` (or since placing began). */
    ms?: number;
    since?: number;
    source?: string;
    log?: boolean;
    listOutputs?: boolean;
    as?: NodeOutcome;
  }): Promise<RunEnd> {
    const t = c.since ?? Date.now();
    this.enter('placing');
    const placed = await this.host.place(this.node, c.files);
    if (!placed.ok) return this.fail(placed.error, c.ms ?? Date.now() - t, c.key);
    if (placed.value === 'superseded') return this.end('superseded', 'skipped');
    this.host.remember(this.node, c.key, c.files, c.kept);
    const details: ResultDetails = { key: c.key };
    if (c.listOutputs !== false) details.outputs = this.host.placedOutputs(this.node, c.files);
    if (c.log === true) details.log = this.host.logPath(this.node);
    if (c.source !== undefined) details.source = c.source;
    this.host.finish(this.node, c.status, c.ms ?? Date.now() - t, details);
    return this.end(c.as ?? (c.status === 'cached' ? 'restored' : c.status), 'ok');
  }

  /** Failed before it could start (blocked): its dependents skip, the others go on. */
  private refuse(failure: StepFailure, key?: string): RunEnd {
    this.host.finish(this.node, 'failed', 0, { failure, ...(key === undefined ? {} : { key }) });
    return this.end('failed', 'skipped');
  }

  private skip(key: string, reason: string): RunEnd {
    this.host.finish(this.node, 'skipped', 0, { key, reason });
    return this.end('skipped', 'skipped');
  }

  private fail(failure: StepFailure, ms: number, key?: string): RunEnd {
    const command = failure.argv ? this.host.userCommand(this.node) : undefined;
    if (command?.argv) failure = { ...failure, ...command };
    const stopping = this.host.stopping();
    const stopped = failure.reason === 'cancelled' || (stopping && failure.reason !== 'internal');
    this.host.finish(this.node, stopped ? 'interrupted' : 'failed', ms, {
      failure,
      ...(key === undefined ? {} : { key }),
      ...(failure.log === undefined ? {} : { log: failure.log }),
      ...(stopped && !stopping ? { reason: 'cancelled' } : {}),
    });
    return stopped ? this.end('cancelled', 'interrupted') : this.end('failed', 'failed');
  }

  /** A download's failure, or `cancelled` if its own stop signal ended it. */
  private stoppedOr(failure: StepFailure): StepFailure {
    return this.host.stoppedWhileRunning(this.node) ? { ...failure, reason: 'cancelled' } : failure;
  }

  private end(outcome: NodeOutcome, scheduler: RunEnd): RunEnd {
    this.outcome = outcome;
    this.enter('done');
    return scheduler;
  }

  private enter(phase: NodeRunPhase): void {
    if (this.current === phase) return;
    this.current = phase;
    this.history.push(phase);
  }

  /** What the run was doing, for an error met on the way. */
  private doing(): string {
    switch (this.current) {
      case 'waiting':
      case 'deciding':
        return 'reading its inputs';
      case 'fetching':
        return 'downloading its files';
      case 'running':
        return 'running it';
      case 'placing':
        return 'placing its outputs in out/';
      case 'done':
        return 'finishing';
    }
  }

  private elapsed(): number {
    return Date.now() - this.started;
  }
}
