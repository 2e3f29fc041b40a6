// Scheduling through the real CLI: -j and pools bound what runs at once (checked on the double's
// call log: when each mlc_llm process started and ended), --profile writes trace events, and Ctrl-C
// stops the build with nothing left running.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { Project, type Call } from '../helpers/project.js';

const MODELS = { r: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const }, l: { preset: 'llama2_7b', weights: 'safetensors' as const } };
const manifest = (extra = '') => `version: 1
models:
  A: { source: ./hf/r, conv_template: redpajama_chat }
  B: { source: ./hf/l, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [cuda, android]
${extra}`;

type Timed = Call & { start: number; end: number };

/** The most mlc_llm processes alive at the same moment. */
function peakOverlap(calls: Call[]): number {
  const points = (calls as Timed[]).flatMap((c) => [
    { t: c.start, d: 1 },
    { t: c.end, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d); // an end before a start at the same instant
  let now = 0;
  let peak = 0;
  for (const p of points) peak = Math.max(peak, (now += p.d));
  return peak;
}

describe('scheduling', () => {
  it('-j 1 never runs two steps at once; with room, steps do run side by side', async () => {
    const p = await Project.create(manifest('resources: { cpu: 4 }\n'), MODELS);
    const one = await p.run(['-j', '1'], { MLC_DOUBLE_SLEEP_MS: '150' });
    expect(one.code).toBe(0);
    expect(one.calls.length).toBe(2 + 4 + 4); // convert, gen_config (base + ctx768), compile per model
    expect(peakOverlap(one.calls)).toBe(1);

    const q = await Project.create(manifest('resources: { cpu: 4 }\n'), MODELS);
    const wide = await q.run([], { MLC_DOUBLE_SLEEP_MS: '150' });
    expect(wide.code).toBe(0);
    expect(peakOverlap(wide.calls)).toBeGreaterThan(1);
    expect(peakOverlap(wide.calls)).toBeLessThanOrEqual(4);
  });

  it('a pool of one (manifest resources:) runs its steps one at a time', async () => {
    // No GPU here, so convert_weight falls back to the cpu pool with every other step.
    const p = await Project.create(manifest('resources: { cpu: 1 }\n'), MODELS);
    const r = await p.run([], { MLC_DOUBLE_SLEEP_MS: '100' });
    expect(r.code).toBe(0);
    expect(peakOverlap(r.calls)).toBe(1);
  });

  it('rejects a pool name it does not know, where it is written', async () => {
    const p = await Project.create(manifest('resources:\n  compile: { pool: tpu }\n'), MODELS);
    const r = await p.run();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mlc.build.yaml:8:20');
    expect(r.stderr).toContain('must be net, cpu or gpu');
  });

  it('--profile writes Chrome trace events: one X event per step that ran, on named slot tracks that never overlap', async () => {
    const p = await Project.create(manifest(), MODELS);
    const r = await p.run(['--profile', 'trace.json', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('profile written to');
    const trace = JSON.parse(await readFile(p.path('trace.json'), 'utf8')) as {
      traceEvents: { name: string; ph: string; ts?: number; dur?: number; pid: number; tid: number; args?: { name?: string; status?: string } }[];
    };
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    const runs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; node: string; slot?: number })
      .filter((e) => e.event === 'run');
    expect(spans.map((s) => s.name).sort()).toEqual(runs.map((e) => e.node).sort());
    expect(spans.length).toBe(r.calls.length); // every mlc_llm call is a span (local sources are not fetched)
    const named = new Set(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.tid));
    for (const s of spans) {
      expect(typeof s.ts).toBe('number');
      expect(s.dur).toBeGreaterThan(0);
      expect(named.has(s.tid)).toBe(true);
      expect(s.args?.status).toBe('ran');
    }
    for (const tid of new Set(spans.map((s) => s.tid))) {
      const lane = spans.filter((s) => s.tid === tid).sort((a, b) => (a.ts as number) - (b.ts as number));
      for (let i = 1; i < lane.length; i++) expect(lane[i]?.ts).toBeGreaterThanOrEqual((lane[i - 1]?.ts as number) + (lane[i - 1]?.dur as number));
    }
  });

  it('prints the time per step kind and what was restored', async () => {
    const p = await Project.create(manifest(), MODELS);
    const r = await p.run();
    expect(r.stderr).toMatch(/\n {2}convert +2 ran \(\d/);
    expect(r.stderr).toMatch(/\n {2}compile +4 ran \(\d/);
    await p.run(['clean']);
    const again = await p.run();
    expect(again.stderr).toMatch(/\n {2}compile +4 cached\n/);
  });
});

/** Starts a build whose steps sleep; resolves once the first step runs, with the child. */
async function startSlowBuild(p: Project, env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, '--json'], {
    cwd: p.dir,
    env: { ...process.env, ...p.env, MLC_DOUBLE_SLEEP_MS: '20000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"event":"run"') && stdout.includes('"kind":"convert"')) resolve();
    });
  });
  // The step's process is up once its staging folder has its pid file.
  for (let i = 0; i < 100 && !(await stepRunning(p)); i++) await new Promise((r) => setTimeout(r, 50));
  return { child, closed, out: () => ({ stdout, stderr }) };
}

async function stepRunning(p: Project): Promise<boolean> {
  for (const d of await readdir(p.path('.mlc-build/tmp')).catch(() => [] as string[])) {
    if ((await readdir(p.path('.mlc-build/tmp', d)).catch(() => [] as string[])).includes('step.pid')) return true;
  }
  return false;
}

const stepProcesses = (p: Project) => spawnSync('pgrep', ['-f', p.path('.mlc-build/tmp')], { encoding: 'utf8' }).stdout.trim();

describe('Ctrl-C', () => {
  it('stops the running steps, exits 130, leaves no step process or staging folder, and the next build finishes', async () => {
    const p = await Project.create(manifest(), MODELS);
    const { child, closed, out } = await startSlowBuild(p, {});
    expect(stepProcesses(p)).not.toBe('');
    const t = Date.now();
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(Date.now() - t).toBeLessThan(10_000); // the steps would sleep 20 s
    expect(out().stderr).toContain('SIGINT: stopping the running steps');
    expect(out().stdout).toContain('"status":"interrupted"');
    // Interrupted: the steps that were running; skipped: those that never started. The summary agrees.
    const events = out()
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; node?: string; status?: string; counts?: Record<string, number> });
    const ran = new Set(events.filter((e) => e.event === 'run').map((e) => e.node));
    const finishes = events.filter((e) => e.event === 'finish');
    expect(finishes.filter((e) => e.status === 'interrupted').every((e) => ran.has(e.node))).toBe(true);
    expect(finishes.filter((e) => e.status === 'skipped').every((e) => !ran.has(e.node))).toBe(true);
    expect(finishes.filter((e) => e.status === 'skipped').length).toBeGreaterThan(0);
    const summary = events.find((e) => e.event === 'summary');
    expect(summary?.counts?.interrupted).toBe(finishes.filter((e) => e.status === 'interrupted').length);
    expect(summary?.counts?.skipped).toBe(finishes.filter((e) => e.status === 'skipped').length);
    expect(stepProcesses(p)).toBe('');
    expect(await readdir(p.path('.mlc-build/tmp'))).toEqual([]);
    const next = await p.run();
    expect(next.code).toBe(0);
  });

  it('a second Ctrl-C kills steps that ignore SIGTERM at once, and the build still ends as usual', async () => {
    const p = await Project.create(manifest(), MODELS);
    const { child, closed, out } = await startSlowBuild(p, { MLC_DOUBLE_IGNORE_TERM: '1' });
    await new Promise((r) => setTimeout(r, 1000)); // past the double's start-up, where it starts ignoring SIGTERM
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 500));
    expect(child.exitCode).toBe(null); // still waiting for the step that ignores SIGTERM
    const t = Date.now();
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(Date.now() - t).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 200));
    expect(stepProcesses(p)).toBe('');
    expect(out().stderr).not.toContain('internal error');
    expect(out().stdout.trim().split('\n').at(-1)).toMatch(/^\{"event":"summary"/);
    expect(await readdir(p.path('.mlc-build/tmp'))).toEqual([]);
  });
});

/** True while the process exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('stopping a build stops everything its steps started', () => {
  const cases: [string, NodeJS.Signals, Record<string, string>][] = [
    ['Ctrl-C', 'SIGINT', {}],
    ['kill', 'SIGTERM', {}],
    ['Ctrl-C, with children that ignore SIGTERM', 'SIGINT', { MLC_DOUBLE_CHILD_IGNORE_TERM: '1' }],
  ];
  for (const [name, signal, env] of cases) {
    it(`${name}: no process of a step's group is left, grandchildren included`, async () => {
      const p = await Project.create(manifest(), MODELS);
      const children = p.path('children.txt');
      const { child, closed } = await startSlowBuild(p, { MLC_DOUBLE_CHILDREN: children, ...env });
      for (let i = 0; i < 100 && !existsSync(children); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300)); // the double is past its start-up
      const pids = readFileSync(children, 'utf8').trim().split(/\s+/).map(Number);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(pids.every(alive)).toBe(true);
      child.kill(signal);
      expect(await closed).toBe(130);
      await new Promise((r) => setTimeout(r, 300));
      expect(pids.filter(alive)).toEqual([]);
    });
  }
});

describe('reported times', () => {
  it("a step's time is its run, never its wait for a slot (-j 1: the times add up to at most the build's)", async () => {
    const p = await Project.create(manifest(), MODELS);
    const r = await p.run(['--json', '-j', '1'], { MLC_DOUBLE_SLEEP_MS: 'compile=300' });
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; status?: string; kind?: string; ms: number });
    const ran = events.filter((e) => e.event === 'finish' && e.status === 'ran');
    const summary = events.find((e) => e.event === 'summary') as { ms: number };
    expect(ran.reduce((n, e) => n + e.ms, 0)).toBeLessThanOrEqual(summary.ms);
    // Each compile's time is its own run (the double's, plus starting it), never the others' it waited
    // for with -j 1: had it counted the wait, the last would take at least all of them together. Start-up
    // under load can double a 300 ms run, so the bound is the sum of the runs, not a factor of one.
    const compiles = ran.filter((e) => e.kind === 'compile');
    const own = (r.calls as Timed[]).filter((c) => c.sub === 'compile').map((c) => c.end - c.start);
    expect(compiles).toHaveLength(own.length);
    expect(own.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...compiles.map((e) => e.ms))).toBeLessThan(own.reduce((a, b) => a + b, 0));
  });
});
