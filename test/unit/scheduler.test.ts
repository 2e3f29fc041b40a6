import { describe, expect, it } from 'vitest';
import { Scheduler, type Capacity, type Task } from '../../src/exec/scheduler.js';
import type { PoolName } from '../../src/recipes/index.js';

interface Interval {
  id: string;
  start: number;
  end: number;
  pool: PoolName;
  slots: number;
}

interface SimResult {
  runs: Interval[];
  skipped: { id: string; because?: string }[];
  makespan: number;
  /** The most of each pool (and of -j) in use at any moment. */
  peak: Record<PoolName | 'jobs', number>;
}

/** Drives the scheduler on a simulated clock: every task must execute and takes `expectedMs`. */
function simulate(tasks: Task[], cap: Capacity, opts: { keepGoing?: boolean; fails?: string[]; actualMs?: (t: Task) => number } = {}): SimResult {
  const s = new Scheduler(tasks, cap, { keepGoing: opts.keepGoing ?? false });
  const running: { task: Task; end: number; interval: Interval }[] = [];
  const runs: Interval[] = [];
  const skipped: SimResult['skipped'] = [];
  const peak = { net: 0, cpu: 0, gpu: 0, jobs: 0 };
  let now = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    for (const t of s.takeReady()) s.request(t.id);
    for (const t of s.grant()) {
      const interval = { id: t.id, start: now, end: now + (opts.actualMs ?? ((x) => x.expectedMs))(t), pool: t.pool, slots: t.slots };
      running.push({ task: t, end: interval.end, interval });
      runs.push(interval);
    }
    const use = { net: 0, cpu: 0, gpu: 0, jobs: 0 };
    for (const r of running) {
      use[r.task.pool] += Math.min(r.task.slots, Math.max(1, cap.pools[r.task.pool]));
      use.jobs += Math.min(r.task.slots, cap.jobs);
    }
    for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], use[k]);
    skipped.push(...s.takeSkipped());
    if (s.finished) return { runs, skipped, makespan: now, peak };
    if (running.length === 0) throw new Error(`deadlock at t=${now}: nothing runs and the build is not finished`);
    running.sort((a, b) => a.end - b.end);
    now = (running[0] as (typeof running)[number]).end;
    while (running.length > 0 && (running[0] as (typeof running)[number]).end === now) {
      const r = running.shift() as (typeof running)[number];
      s.finish(r.task.id, opts.fails?.includes(r.task.id) ? 'failed' : 'ok');
    }
  }
  throw new Error('simulation did not end');
}

const task = (id: string, deps: string[], expectedMs: number, pool: PoolName = 'cpu', slots = 1): Task => ({ id, deps, expectedMs, pool, slots });
const cap = (cpu: number, jobs = 100, net = 4, gpu = 1): Capacity => ({ pools: { cpu, net, gpu }, jobs });

/** A small deterministic PRNG, so every run checks the same random graphs. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomGraph(seed: number, n: number): Task[] {
  const r = rng(seed);
  const pools: PoolName[] = ['net', 'cpu', 'gpu'];
  const tasks: Task[] = [];
  for (let i = 0; i < n; i++) {
    const deps = tasks.filter(() => r() < 3 / Math.max(1, tasks.length)).map((t) => t.id);
    tasks.push(task(`t${i}`, deps, 1 + Math.floor(r() * 50), pools[Math.floor(r() * 3)], 1 + Math.floor(r() * 3)));
  }
  return tasks;
}

describe('scheduler', () => {
  it('never uses more of a pool or of -j than it has, and finishes every random graph (no deadlock)', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed * 7919);
      const c: Capacity = { pools: { net: Math.floor(r() * 4), cpu: 1 + Math.floor(r() * 4), gpu: Math.floor(r() * 3) }, jobs: 1 + Math.floor(r() * 6) };
      const tasks = randomGraph(seed, 40);
      const res = simulate(tasks, c);
      expect(res.runs.map((x) => x.id).sort()).toEqual(tasks.map((t) => t.id).sort());
      expect(res.peak.jobs).toBeLessThanOrEqual(c.jobs);
      for (const p of ['net', 'cpu', 'gpu'] as const) expect(res.peak[p]).toBeLessThanOrEqual(Math.max(1, c.pools[p]));
      // Dependencies first.
      const end = new Map(res.runs.map((x) => [x.id, x.end]));
      for (const x of res.runs) for (const d of tasks.find((t) => t.id === x.id)?.deps ?? []) expect(end.get(d)).toBeLessThanOrEqual(x.start);
    }
  });

  it('-j 1 runs one task at a time whatever the pools', () => {
    const res = simulate(randomGraph(3, 30), { pools: { net: 4, cpu: 8, gpu: 2 }, jobs: 1 });
    const sorted = [...res.runs].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]?.start).toBeGreaterThanOrEqual(sorted[i - 1]?.end as number);
  });

  it('starts the longest remaining chain first', () => {
    // Six short independent tasks and a chain of three long ones: critical path first gives the
    // lower bound, 30; first come first served would start the chain late.
    const tasks = [...['s1', 's2', 's3', 's4', 's5', 's6'].map((id) => task(id, [], 5)), task('a', [], 10), task('b', ['a'], 10), task('c', ['b'], 10)];
    const s = new Scheduler(tasks, cap(2), { keepGoing: false });
    expect(s.priority('a')).toBe(30);
    expect(s.priority('c')).toBe(10);
    expect(s.priority('s1')).toBe(5);
    const res = simulate(tasks, cap(2));
    expect(res.runs[0]?.id).toBe('a');
    expect(res.makespan).toBe(30);
  });

  it('a task waiting for more slots is not overtaken by smaller, lower-priority ones', () => {
    // cpu 2: "small" holds one slot; "big" (2 slots, on the critical path) waits for both, and
    // the later "tail" tasks, which would fit in the free slot, wait behind it.
    const tasks = [task('small', [], 10), task('big', [], 20, 'cpu', 2), task('after', ['big'], 50), ...['t1', 't2', 't3'].map((id) => task(id, [], 4))];
    const res = simulate(tasks, cap(2));
    const start = new Map(res.runs.map((x) => [x.id, x.start]));
    expect(start.get('big')).toBe(0);
    // big started first (highest priority), so small and the tails come after it.
    for (const id of ['small', 't1', 't2', 't3']) expect(start.get(id)).toBeGreaterThanOrEqual(20);

    // At 10 "first" ends: "big" (2 slots) becomes ready with one slot free, and so does "late";
    // "late" fits the free slot but must not take it: big starts when t1 ends, late after big.
    const held = [task('first', [], 10), task('t1', [], 15), task('big', ['first'], 20, 'cpu', 2), task('late', ['first'], 1)];
    const r2 = simulate(held, cap(2));
    const s2 = new Map(r2.runs.map((x) => [x.id, x.start]));
    expect(s2.get('big')).toBe(15);
    expect(s2.get('late')).toBe(35);
  });

  it('pools are separate: a download runs beside a compile while the cpu pool is full', () => {
    const tasks = [task('compile', [], 10, 'cpu'), task('compile2', [], 10, 'cpu'), task('download', [], 10, 'net')];
    const res = simulate(tasks, { pools: { cpu: 1, net: 1, gpu: 0 }, jobs: 8 });
    const start = new Map(res.runs.map((x) => [x.id, x.start]));
    expect(start.get('download')).toBe(0);
    expect([start.get('compile'), start.get('compile2')].sort()).toEqual([0, 10]);
    expect(res.makespan).toBe(20);
  });

  it('clamps demands to what a pool or -j can hold, so no request waits forever', () => {
    const res = simulate([task('huge', [], 5, 'cpu', 16), task('gpu-on-cpu-only-machine', [], 5, 'gpu', 1)], { pools: { net: 1, cpu: 2, gpu: 0 }, jobs: 3 });
    expect(res.runs).toHaveLength(2);
  });

  it('fail-fast: after a failure nothing new starts, running tasks finish, the rest is skipped', () => {
    const tasks = [task('bad', [], 5), task('long', [], 20), task('x', [], 30), task('y', ['x'], 5), task('z', ['bad'], 5)];
    const res = simulate(tasks, cap(2), { fails: ['bad'] });
    const ran = res.runs.map((r) => r.id).sort();
    // x (30) and long (20) take both slots first; bad runs when long ends and fails at 25; x goes on.
    expect(ran).toEqual(['bad', 'long', 'x']);
    expect(res.skipped.map((s) => s.id).sort()).toEqual(['y', 'z']);
    expect(res.skipped.find((s) => s.id === 'z')?.because).toBe('bad');
    expect(res.skipped.find((s) => s.id === 'y')?.because).toBeUndefined();
  });

  it('keep-going: builds everything that does not depend on a failure', () => {
    const tasks = [task('bad', [], 5), task('dep', ['bad'], 5), task('depdep', ['dep'], 5), task('ok1', [], 5), task('ok2', ['ok1'], 5)];
    const res = simulate(tasks, cap(1), { keepGoing: true, fails: ['bad'] });
    expect(res.runs.map((r) => r.id).sort()).toEqual(['bad', 'ok1', 'ok2']);
    expect(res.skipped).toEqual([
      { id: 'dep', because: 'bad' },
      { id: 'depdep', because: 'dep' },
    ]);
  });

  it('stop() returns the queued tasks and skips everything not yet running', () => {
    const s = new Scheduler([task('a', [], 5), task('b', [], 5), task('c', ['a'], 5)], cap(1), { keepGoing: false });
    for (const t of s.takeReady()) s.request(t.id);
    expect(s.grant().map((t) => t.id)).toEqual(['a']);
    expect(s.stop()).toEqual(['b']);
    expect(s.grant()).toEqual([]);
    s.finish('a', 'interrupted');
    expect(
      s
        .takeSkipped()
        .map((x) => x.id)
        .sort(),
    ).toEqual(['b', 'c']);
    expect(s.finished).toBe(true);
  });

  it('refuses a cycle and an unknown dependency', () => {
    expect(() => new Scheduler([task('a', ['b'], 1), task('b', ['a'], 1)], cap(1), { keepGoing: false })).toThrow(/cycle/);
    expect(() => new Scheduler([task('a', ['nope'], 1)], cap(1), { keepGoing: false })).toThrow(/not scheduled/);
  });
  it('slots held by a step of an earlier rebuild are not granted until released, and blocked() names the pool', () => {
    const s = new Scheduler([task('a', [], 5), task('b', [], 5)], cap(2), { keepGoing: false });
    s.hold('cpu', 1);
    for (const t of s.takeReady()) s.request(t.id);
    expect(s.grant().map((t) => t.id)).toEqual(['a']);
    expect(s.blocked()).toEqual(new Set(['cpu']));
    s.release('cpu', 1);
    expect(s.grant().map((t) => t.id)).toEqual(['b']);
    expect(s.blocked()).toEqual(new Set());
  });

  it('a hold larger than the pool after an edit shrank it waits for its release, without a deadlock', () => {
    const s = new Scheduler([task('a', [], 5)], cap(1, 1), { keepGoing: false });
    s.hold('cpu', 4); // clamped to the pool: the step ends and gives back exactly what it took
    for (const t of s.takeReady()) s.request(t.id);
    expect(s.grant()).toEqual([]);
    expect(s.blocked()).toEqual(new Set(['cpu']));
    s.release('cpu', 4);
    expect(s.grant().map((t) => t.id)).toEqual(['a']);
  });
});
