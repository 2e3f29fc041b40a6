// A node's run through its states, with a fake build behind it: each outcome (fresh, restored,
// shared, ran, adopted, failed, cancelled, superseded, blocked) and the phases it went through.
import { describe, expect, it } from 'vitest';
import type { CompileNode, DownloadNode, StepNode } from '../../src/graph/nodes.js';
import type { Evaluation } from '../../src/exec/evaluate.js';
import type { BuildEvent, FinishStatus } from '../../src/exec/events.js';
import type { StepFailure } from '../../src/failure.js';
import { NodeRun, type NodeRunHost, type SharedRun, type TakeoverPolicy, type Timed } from '../../src/exec/node-run.js';
import type { RunningStep, StepRun } from '../../src/exec/running.js';
import type { ResultDetails } from '../../src/exec/tally.js';
import { err, ok, type Result } from '../../src/result.js';
import type { SourceFiles } from '../../src/sources/source.js';
import type { CacheHit, RestoreFailure } from '../../src/store/cache.js';
import type { ActionRecord, Files } from '../../src/store/store.js';

const compile: CompileNode = {
  id: 'compile:A/q4f16_1/vulkan',
  kind: 'compile',
  deps: ['config:A/q4f16_1/base'],
  cell: 'A/q4f16_1/vulkan',
  model: 'A',
  quant: 'q4f16_1',
  target: 'vulkan',
  inputs: { config: 'config:A/q4f16_1/base' },
  library: 'A-q4f16_1-vulkan.so',
};
const download: DownloadNode = { id: 'download:A/meta', kind: 'download', deps: [], inputs: {}, part: 'meta', model: 'A' };

const lib: Files = { 'A-q4f16_1-vulkan.so': { path: '/store/cas/aa', digest: 'aa', size: 3 } };
const record: ActionRecord = { key: 'k1', node: compile.id, outputs: { 'A-q4f16_1-vulkan.so': { digest: 'aa', size: 3 } }, durationMs: 40, createdAt: '' };
const step = (extra: Partial<Extract<Evaluation, { kind: 'step' }>> = {}): Evaluation => ({
  kind: 'step',
  key: 'k1',
  fields: {},
  action: { inputs: [] },
  placed: false,
  ...extra,
});
const hit = (from: string, restored: Result<Files, RestoreFailure> = ok(lib)): CacheHit => ({
  record,
  from,
  ...(from === 'local' ? { local: lib } : {}),
  restore: () => Promise.resolve(restored),
});

interface Finished {
  node: string;
  status: FinishStatus;
  details: ResultDetails;
}

/** A fake build: canned evaluations and step results; records what the run asked of it. */
class FakeBuild implements NodeRunHost {
  readonly events: BuildEvent[] = [];
  readonly finished: Finished[] = [];
  readonly placed: string[] = [];
  readonly remembered: string[] = [];
  readonly sharedRuns = new Map<string, SharedRun>();
  evaluations: Evaluation[] = [];
  stepResult: Result<ActionRecord, StepFailure> = ok(record);
  placeResult: Result<'placed' | 'superseded', StepFailure> = ok('placed');
  slotsGranted = true;
  stopped = false;
  takeover?: TakeoverPolicy;
  ran = 0;

  emit = (e: BuildEvent) => {
    this.events.push(e);
  };
  finish(node: { id: string }, status: FinishStatus, _ms: number, details: ResultDetails = {}): void {
    this.finished.push({ node: node.id, status, details });
  }
  evaluate(): Promise<Evaluation> {
    const next = this.evaluations.shift();
    if (!next) throw new Error('no evaluation left');
    return Promise.resolve(next);
  }
  blocked = (): string | undefined => undefined;
  restoreOnly = (): string | undefined => undefined;
  forced = () => false;
  stopping = () => this.stopped;
  stoppedWhileRunning = () => this.stopped;
  async execute<T>(_node: unknown, work: (signal: AbortSignal) => Promise<T>): Promise<Timed<T> | 'not started'> {
    if (!this.slotsGranted) return 'not started';
    return { value: await work(new AbortController().signal), ms: 5 };
  }
  runStep(): Promise<Result<ActionRecord, StepFailure>> {
    this.ran++;
    return Promise.resolve(this.stepResult);
  }
  fetch(): Promise<Result<SourceFiles, StepFailure>> {
    const pin = { part: 'meta' as const, files: { 'config.json': 'cc' } };
    return Promise.resolve(ok({ files: { 'config.json': { path: '/hf/config.json', digest: 'cc', size: 2 } }, key: 'src', fields: {}, pin }));
  }
  place(node: { id: string }): Promise<Result<'placed' | 'superseded', StepFailure>> {
    if (this.placeResult.ok && this.placeResult.value === 'placed') this.placed.push(node.id);
    return Promise.resolve(this.placeResult);
  }
  placedOutputs = () => [{ path: 'libs/A-q4f16_1-vulkan.so', digest: 'aa', size: 3 }];
  filesOf = () => lib;
  remember(node: { id: string }, key: string): void {
    this.remembered.push(`${node.id}=${key}`);
  }
  keepInPlace(): void {}
  offer(): void {}
  learnDuration(): void {}
  userCommand = () => ({ argv: ['mlc_llm', 'compile'] });
  logPath = () => '/store/logs/x.log';
}

async function runOf(host: FakeBuild, node: StepNode = compile) {
  const run = new NodeRun(node, host);
  const end = await run.run();
  return { end, outcome: run.outcome, history: run.history, status: host.finished.at(-1)?.status, details: host.finished.at(-1)?.details };
}

describe('a node run', () => {
  it('fresh: in place with its key; nothing placed, nothing run', async () => {
    const host = new FakeBuild();
    host.evaluations = [step({ hit: hit('local'), placed: true })];
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'ok', outcome: 'fresh', status: 'fresh', history: ['waiting', 'deciding', 'done'] });
    expect(host.placed).toEqual([]);
    expect(host.ran).toBe(0);
    expect(host.remembered).toEqual([`${compile.id}=k1`]);
  });

  it('restored: a cache hit is placed and reported cached, with where it came from', async () => {
    const host = new FakeBuild();
    host.evaluations = [step({ hit: hit('remote') })];
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'ok', outcome: 'restored', status: 'cached', history: ['waiting', 'deciding', 'placing', 'done'] });
    expect(r.details?.source).toBe('remote');
    expect(host.ran).toBe(0);
  });

  it('a hit that cannot be restored is said in a warning, and the step runs', async () => {
    const host = new FakeBuild();
    host.evaluations = [step({ hit: hit('remote', err({ message: 'blob gone', reported: false })) })];
    const r = await runOf(host);
    expect(r).toMatchObject({ outcome: 'ran', status: 'ran', history: ['waiting', 'deciding', 'running', 'placing', 'done'] });
    expect(host.events).toContainEqual({ event: 'warning', message: `${compile.id}: could not restore from remote (blob gone); running it` });
    expect(host.ran).toBe(1);
  });

  it('a hit the provider could not deliver, and said so: the step runs without a second warning', async () => {
    const host = new FakeBuild();
    host.evaluations = [step({ hit: hit('remote', err({ message: 'no data for 1s in the middle of the response', reported: true })) })];
    const r = await runOf(host);
    expect(r).toMatchObject({ outcome: 'ran', status: 'ran' });
    expect(host.events.filter((e) => e.event === 'warning')).toEqual([]);
    expect(host.ran).toBe(1);
  });

  it('ran: runs, places, reports its outputs and log', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'ok', outcome: 'ran', status: 'ran' });
    expect(r.details).toMatchObject({ key: 'k1', log: '/store/logs/x.log', outputs: [{ path: 'libs/A-q4f16_1-vulkan.so' }] });
    expect(host.placed).toEqual([compile.id]);
  });

  it('shared: a second node with the same key waits for the first run and places its result', async () => {
    const host = new FakeBuild();
    host.evaluations = [step(), step()];
    const other: CompileNode = { ...compile, id: 'compile:B/q4f16_1/vulkan', model: 'B', cell: 'B/q4f16_1/vulkan' };
    const [a, b] = await Promise.all([runOf(host), runOf(host, other)]);
    expect(host.ran).toBe(1);
    expect([a.outcome, b.outcome].sort()).toEqual(['ran', 'shared']);
    expect(host.finished.map((f) => f.status).sort()).toEqual(['cached', 'ran']);
  });

  it('failed: the command the user can re-run, the failure as it came', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.stepResult = err({ reason: 'step-failed', message: 'exited with code 1', argv: ['/staging/x'] });
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'failed', outcome: 'failed', status: 'failed' });
    expect(r.details?.failure).toMatchObject({ reason: 'step-failed', argv: ['mlc_llm', 'compile'] });
  });

  it('cancelled: a step watch stopped is interrupted, not failed, and says it was cancelled', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.stepResult = err({ reason: 'cancelled', message: 'stopped' });
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'interrupted', outcome: 'cancelled', status: 'interrupted' });
    expect(r.details?.reason).toBe('cancelled');
  });

  it('interrupted: a step that fails while the build stops counts as interrupted', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.stopped = true;
    host.stepResult = err({ reason: 'step-failed', message: 'killed by SIGTERM' });
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'interrupted', outcome: 'cancelled', status: 'interrupted' });
    expect(r.details?.reason).toBeUndefined();
  });

  it('superseded: a later rebuild took over before placing; nothing reported', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.placeResult = ok('superseded');
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'skipped', outcome: 'superseded' });
    expect(host.finished).toEqual([]);
  });

  it('a full disk while placing fails the node with that reason, and the record stays', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.placeResult = err({
      reason: 'no-space',
      message: 'placing its outputs in out/: no space left on the device at /p/dist/libs/x.so',
      path: '/p/dist/libs/x.so',
    });
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'failed', outcome: 'failed', status: 'failed', history: ['waiting', 'deciding', 'running', 'placing', 'done'] });
    expect(r.details?.failure).toMatchObject({ reason: 'no-space', path: '/p/dist/libs/x.so' });
    expect(host.remembered).toEqual([]);
  });

  it('an exception with an errno of the disk is classified by what the run was doing; any other is internal', async () => {
    const host = new FakeBuild();
    host.evaluate = () => Promise.reject(Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS', path: '/p/.mlc-build/x' }));
    const r = await runOf(host);
    expect(r.details?.failure).toMatchObject({ reason: 'read-only', message: 'reading its inputs: it is on a read-only filesystem at /p/.mlc-build/x' });
    const buggy = new FakeBuild();
    buggy.evaluate = () => Promise.reject(new TypeError('x is undefined'));
    const b = await runOf(buggy);
    expect(b.details?.failure?.reason).toBe('internal');
  });

  it('blocked: fails at once without starting, and its dependents skip', async () => {
    const host = new FakeBuild();
    host.blocked = () => 'mlc_llm: command not found';
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'skipped', outcome: 'failed', status: 'failed', history: ['waiting', 'done'] });
    expect(host.events.some((e) => e.event === 'start')).toBe(false);
  });

  it('not started: the scheduler skipped it while it waited for slots (and reports it)', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    host.slotsGranted = false;
    const r = await runOf(host);
    expect(r).toMatchObject({ end: 'reported', outcome: 'skipped' });
    expect(host.finished).toEqual([]);
  });

  it('adopted: an earlier rebuild runs the same key; its result is taken over and reported as ran', async () => {
    const host = new FakeBuild();
    host.evaluations = [step()];
    const earlier: RunningStep = {
      node: compile.id,
      kind: 'compile',
      key: 'k1',
      pool: 'gpu',
      slots: 1,
      generation: 1,
      started: 0,
      ended: Promise.resolve(),
      result: Promise.resolve<StepRun>({ value: ok(record), ms: 40 }),
      cancel: () => {},
      finishing: false,
      cancelling: false,
    };
    const adopted: string[] = [];
    host.takeover = {
      earlierRun: () => earlier,
      release: () => {
        throw new Error('must not release a step with the same key');
      },
      adopt: (s) => (adopted.push(s.node), 7),
      failedBefore: () => false,
    };
    const r = await runOf(host);
    expect(r).toMatchObject({ outcome: 'ran', status: 'ran' });
    expect(adopted).toEqual([compile.id]);
    expect(host.ran).toBe(0);
    expect(host.events).toContainEqual({ event: 'run', node: compile.id, kind: 'compile', slot: 7, pool: 'gpu' });
  });

  it('a source is fetched, placed and its pin remembered', async () => {
    const host = new FakeBuild();
    host.evaluations = [{ kind: 'fetch', reason: 'not here' }];
    const r = await runOf(host, download);
    expect(r).toMatchObject({ end: 'ok', outcome: 'ran', status: 'ran', history: ['waiting', 'deciding', 'fetching', 'placing', 'done'] });
    expect(host.remembered).toEqual(['download:A/meta=src']);
  });
});
