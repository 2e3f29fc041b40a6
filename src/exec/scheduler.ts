// The scheduler: which task may start, and when. Pure and synchronous (no I/O, no clock) so it can
// be driven by the build loop and, in tests and benchmarks, by a simulated clock.
//
// Two stages per task. A task becomes *ready* when its dependencies have finished; the driver then
// decides what it needs (most tasks turn out fresh or cached and need nothing). A task that must
// execute *requests* its resources: `slots` of one pool and as many of the -j total. Requests are
// granted highest priority first, where the priority is the longest chain of expected durations
// from the task to the end of the graph (critical path first).
//
// No deadlock: a demand is clamped to what its pool and -j can ever hold, so every request fits an
// idle machine. No starvation: a request that does not fit reserves the pool (or the -j total) it
// waits for, so smaller, later requests cannot keep taking what it needs.
import { POOL_NAMES, type PoolName } from '../recipes/index.js';
import { must } from '../must.js';

export interface Task {
  id: string;
  deps: readonly string[];
  pool: PoolName;
  slots: number;
  /** Expected duration (learnt from earlier runs, else a default per step kind). */
  expectedMs: number;
}

export interface Capacity {
  pools: Record<PoolName, number>;
  /** -j: the total slots of all pools together. */
  jobs: number;
}

/** How a task ended: `ok` lets its dependents start; the others skip them. */
export type TaskOutcome = 'ok' | 'failed' | 'skipped' | 'interrupted';

export interface Skip {
  id: string;
  /** The dependency that failed, was skipped or interrupted, or undefined when the build stopped. */
  because?: string;
}

interface Entry {
  task: Task;
  priority: number;
  /** Unfinished dependencies. */
  waiting: number;
  dependents: string[];
  state: 'pending' | 'ready' | 'queued' | 'running' | 'done';
  /** Order of the request, to break priority ties first come first served. */
  seq: number;
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly readyList: string[] = [];
  private readonly skipped: Skip[] = [];
  private queue: Entry[] = [];
  private readonly free: Record<PoolName, number>;
  private freeJobs: number;
  private unfinished: number;
  private seq = 0;
  private stopped = false;
  private readonly capacity: Capacity;

  constructor(
    tasks: readonly Task[],
    capacity: Capacity,
    private readonly opts: { keepGoing: boolean },
  ) {
    for (const [pool, size] of Object.entries(capacity.pools)) {
      if (!(size >= 0)) throw new Error(`pool ${pool} has size ${size}`);
    }
    if (!(capacity.jobs >= 1)) throw new Error(`-j must be at least 1, got ${capacity.jobs}`);
    // A pool of size 0 (no GPU found) still runs a task assigned to it, one at a time, rather than never.
    this.capacity = { jobs: capacity.jobs, pools: Object.fromEntries(POOL_NAMES.map((p) => [p, Math.max(1, capacity.pools[p])])) as Record<PoolName, number> };
    this.free = { ...this.capacity.pools };
    this.freeJobs = capacity.jobs;
    for (const task of tasks) this.entries.set(task.id, { task, priority: 0, waiting: task.deps.length, dependents: [], state: 'pending', seq: 0 });
    for (const task of tasks) {
      for (const dep of task.deps) {
        const e = this.entries.get(dep);
        if (!e) throw new Error(`${task.id} depends on ${dep}, which is not scheduled`);
        e.dependents.push(task.id);
      }
    }
    this.unfinished = tasks.length;
    this.computePriorities(tasks);
    for (const task of tasks) if (task.deps.length === 0) this.makeReady(this.entry(task.id));
  }

  /** The longest chain of expected durations from the task through its dependents. */
  priority(id: string): number {
    return this.entry(id).priority;
  }

  /** True once the build stopped starting tasks (after a failure without keep-going, or stop()). */
  get stopping(): boolean {
    return this.stopped;
  }

  /** Every task has finished (or been skipped). */
  get finished(): boolean {
    return this.unfinished === 0;
  }

  /** Tasks whose dependencies all finished ok, highest priority first; each is returned once. */
  takeReady(): Task[] {
    const ids = this.readyList.splice(0);
    if (this.stopped) {
      for (const id of ids) this.skip(this.entry(id), undefined);
      return [];
    }
    return ids
      .map((id) => this.entry(id))
      .sort(byPriority)
      .map((e) => e.task);
  }

  /** Tasks that can no longer start (a dependency did not finish ok, or the build stopped). */
  takeSkipped(): Skip[] {
    return this.skipped.splice(0);
  }

  /**
   * A ready task must execute: queue it for its resources. False if the build is stopping; the
   * task is then skipped (and reported by takeSkipped).
   */
  request(id: string): boolean {
    const e = this.entry(id);
    if (e.state !== 'ready') throw new Error(`${id} requested resources while ${e.state}`);
    if (this.stopped) {
      this.skip(e, undefined);
      return false;
    }
    e.state = 'queued';
    e.seq = this.seq++;
    this.queue.push(e);
    this.queue.sort(byPriority);
    return true;
  }

  /** Queued tasks that may start now; their resources are taken until they finish. */
  grant(): Task[] {
    if (this.stopped) return [];
    const granted: Task[] = [];
    const reserved = new Set<PoolName | 'jobs'>();
    for (const e of this.queue) {
      if (reserved.has('jobs')) break;
      const { pool } = e.task;
      if (reserved.has(pool)) continue;
      const need = this.demand(e.task);
      if (this.free[pool] >= need.pool && this.freeJobs >= need.jobs) {
        this.free[pool] -= need.pool;
        this.freeJobs -= need.jobs;
        e.state = 'running';
        granted.push(e.task);
      } else {
        // Hold back what it waits for, so it is next when enough is freed.
        reserved.add(this.free[pool] < need.pool ? pool : 'jobs');
      }
    }
    if (granted.length > 0) this.queue = this.queue.filter((e) => e.state === 'queued');
    return granted;
  }

  /**
   * A ready, queued or running task ended. Frees what it held; on `ok` its dependents may become
   * ready, otherwise they are skipped. A failure stops the build unless keep-going.
   */
  finish(id: string, outcome: TaskOutcome): void {
    const e = this.entry(id);
    switch (e.state) {
      case 'running': {
        const need = this.demand(e.task);
        this.free[e.task.pool] += need.pool;
        this.freeJobs += need.jobs;
        break;
      }
      case 'queued':
        this.queue = this.queue.filter((q) => q !== e);
        break;
      case 'ready':
        break;
      case 'pending':
      case 'done':
        throw new Error(`${id} finished while ${e.state}`);
    }
    this.settle(e, outcome);
    if (outcome === 'failed' && !this.opts.keepGoing) this.stop();
  }

  /**
   * Start nothing new: queued and ready tasks are skipped (running ones go on until they finish).
   * Returns the tasks that were queued, whose drivers are waiting for a grant.
   */
  stop(): string[] {
    this.stopped = true;
    const queued = this.queue.map((e) => e.task.id);
    for (const e of this.queue) this.skip(e, undefined);
    this.queue = [];
    for (const id of this.readyList.splice(0)) this.skip(this.entry(id), undefined);
    return queued;
  }

  /**
   * Slots taken outside this scheduler's tasks: in watch mode, a step an earlier rebuild started
   * keeps its slots until it ends. The pool may go below zero (a smaller pool after an edit).
   */
  hold(pool: PoolName, slots: number): void {
    const need = this.demand({ pool, slots });
    this.free[pool] -= need.pool;
    this.freeJobs -= need.jobs;
  }

  /** Gives back what hold() took. */
  release(pool: PoolName, slots: number): void {
    const need = this.demand({ pool, slots });
    this.free[pool] += need.pool;
    this.freeJobs += need.jobs;
  }

  /** Tasks that asked for slots and wait for them. */
  queued(): Task[] {
    return this.queue.map((e) => e.task);
  }

  /** Pools that queued tasks wait for now (after grant()): a full pool, or 'jobs' when -j is the limit. */
  blocked(): Set<PoolName | 'jobs'> {
    const out = new Set<PoolName | 'jobs'>();
    for (const e of this.queue) {
      const need = this.demand(e.task);
      out.add(this.free[e.task.pool] < need.pool ? e.task.pool : 'jobs');
    }
    return out;
  }

  /** What a task takes: its slots, clamped so that an idle machine always has room for it. */
  private demand(task: Pick<Task, 'pool' | 'slots'>): { pool: number; jobs: number } {
    const slots = Math.max(1, task.slots);
    return { pool: Math.min(slots, this.capacity.pools[task.pool]), jobs: Math.min(slots, this.capacity.jobs) };
  }

  private settle(e: Entry, outcome: TaskOutcome): void {
    e.state = 'done';
    this.unfinished--;
    for (const id of e.dependents) {
      const d = this.entry(id);
      if (d.state !== 'pending') continue;
      if (outcome !== 'ok') this.skip(d, e.task.id);
      else if (--d.waiting === 0) this.makeReady(d);
    }
  }

  private skip(e: Entry, because: string | undefined): void {
    if (e.state === 'done') return;
    this.skipped.push({ id: e.task.id, because });
    this.settle(e, 'skipped');
  }

  private makeReady(e: Entry): void {
    if (this.stopped) {
      this.skip(e, undefined);
      return;
    }
    e.state = 'ready';
    this.readyList.push(e.task.id);
  }

  private computePriorities(tasks: readonly Task[]): void {
    // Reverse topological order (Kahn's algorithm from the sinks), so each task sees its
    // dependents' priorities; a cycle leaves tasks unvisited and is reported.
    const left = new Map(tasks.map((t) => [t.id, this.entry(t.id).dependents.length]));
    const stack = tasks.filter((t) => left.get(t.id) === 0).map((t) => t.id);
    let visited = 0;
    while (stack.length > 0) {
      const e = this.entry(stack.pop() as string);
      visited++;
      let longest = 0;
      for (const d of e.dependents) longest = Math.max(longest, this.entry(d).priority);
      e.priority = Math.max(0, e.task.expectedMs) + longest;
      for (const dep of e.task.deps) {
        const n = must(left, dep, 'count of unfinished dependents') - 1;
        left.set(dep, n);
        if (n === 0) stack.push(dep);
      }
    }
    if (visited !== tasks.length) throw new Error('the task graph has a cycle');
  }

  private entry(id: string): Entry {
    const e = this.entries.get(id);
    if (!e) throw new Error(`unknown task ${id}`);
    return e;
  }
}

function byPriority(a: Entry, b: Entry): number {
  return b.priority - a.priority || a.seq - b.seq;
}
