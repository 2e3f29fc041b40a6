#!/usr/bin/env node
// bench/watch: watch mode with the mlc_llm test double. Two measurements:
//   1. latency: on a ~1,000-node manifest (BENCH_WATCH_MODELS models × 3 quantizations × 8 targets),
//      the time from a file save to the start of the first step it affects, median of 20 saves,
//      against the debounce (target: debounce + ≤ 150 ms);
//   2. a scripted edit session (10 saves across 3 models, steps slowed by the double's sleep), run
//      three ways by the same harness: our watch (cancel by key), "finish the running build, then
//      rebuild" (wireit, ibazel) and "cancel everything downstream of the change" (Turborepo: the
//      manifest is the package's input, so a running build is cancelled whole). Reported: the
//      step-seconds spent on work later discarded (a killed run, or a finished run whose inputs the
//      final build does not use), and killed runs whose exact inputs the final build does use
//      (cancels of work that was still wanted). Both peers get the cache (Turborepo turns its off
//      while watching; giving it back is generous to it).
// A run's identity is the double's digest of its arguments and input files; the final inputs are
// those of a `build -B` after the session. Figures go to stdout and bench/results/watch.json.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONV, PRESETS } from './models.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const DOUBLE = join(root, 'test/double/mlc_llm.mjs');
const MODELS = Number(process.env.BENCH_WATCH_MODELS ?? 31);
const SAVES = 20;
// Each save edits another model (an edit back would be restored from the store: no step to time).
if (MODELS < SAVES) throw new Error(`BENCH_WATCH_MODELS must be at least ${SAVES}`);
const DEBOUNCE_MS = 200;
const TARGETS = ['cuda', 'metal', 'metal-x86_64', 'vulkan', 'vulkan-windows', 'webgpu', 'iphone', 'android'];

const base = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-watch-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const log = (s) => console.log(s);

function project(name, models) {
  const dir = join(base, name);
  mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
  writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode');
  for (const m of models) {
    const d = join(dir, 'hf', m.folder);
    mkdirSync(d, { recursive: true });
    copyFileSync(join(root, 'test/fixtures/hf-configs', `${m.preset}.json`), join(d, 'config.json'));
    writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' }, decoder: { type: 'ByteLevel' }, name: m.folder }));
    writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(64 * 1024, m.folder));
  }
  const env = {
    ...process.env,
    MLC_BUILD_MLC_LLM: DOUBLE,
    MLC_BUILD_ALL_HOSTS: '1',
    MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
    MLC_DOUBLE_SHARD_CAP: '65536',
    MLC_DOUBLE_STARTS: join(dir, 'starts.log'),
    MLC_DOUBLE_LOG: join(dir, 'calls.log'),
    MLC_DOUBLE_SLEEP_FILE: join(dir, 'sleep.json'),
    XDG_CACHE_HOME: join(dir, '.xdg-cache'),
  };
  writeFileSync(join(dir, 'sleep.json'), '{}');
  return { dir, env };
}

function manifest(models, quants, targets) {
  const lines = ['version: 1', 'models:'];
  for (const m of models) {
    const config = m.config && Object.keys(m.config).length > 0 ? `, config: ${JSON.stringify(m.config)}` : '';
    lines.push(`  ${m.name}: { source: ./hf/${m.folder}, conv_template: ${m.conv}${config} }`);
  }
  lines.push(`quantizations: [${quants.join(', ')}]`, `targets: [${targets.join(', ')}]`);
  return lines.join('\n') + '\n';
}

const cli = (p, args) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: p.dir, env: p.env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`mlc-build ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  return r;
};

/** A child mlc-build with its NDJSON events, as they arrive. */
function child(p, args) {
  const c = spawn(process.execPath, [BIN, ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  c.stderr.on('data', (d) => (stderr += d));
  c.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) {
      if (!l.trim()) continue;
      const e = JSON.parse(l);
      e.at = performance.now();
      events.push(e);
      for (const w of [...waiters]) if (w.test(e)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(e);
    }
  });
  const closed = new Promise((resolve) => c.on('close', (code) => resolve(code)));
  return {
    c,
    events,
    closed,
    get stderr() {
      return stderr;
    },
    next: (test, what, ms = 600_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}\n${stderr.slice(-2000)}`)), ms);
        waiters.push({ test, resolve: (e) => (clearTimeout(t), resolve(e)) });
      }),
  };
}

// ---- 1. latency ---------------------------------------------------------------------------------
const quants = ['q4f16_1', 'q4f32_1', 'q0f16'];
const big = Array.from({ length: MODELS }, (_, i) => ({
  name: `Model-${i}`,
  folder: `m${i}`,
  preset: PRESETS[i % PRESETS.length],
  conv: CONV[PRESETS[i % PRESETS.length]],
}));
const L = project('latency', big);
writeFileSync(join(L.dir, 'mlc.build.yaml'), manifest(big, quants, TARGETS));
const nodes = JSON.parse(cli(L, ['plan', '--json']).stdout).nodes.length;
log(`bench/watch in ${base}: ${cpus().length} CPUs`);
log(`1. latency: ${MODELS} models × ${quants.length} quantizations × ${TARGETS.length} targets = ${nodes} nodes, debounce ${DEBOUNCE_MS} ms`);
cli(L, ['build']); // the first build, outside the measurement
const watch = child(L, ['watch', '--json', '--debounce', String(DEBOUNCE_MS)]);
await watch.next((e) => e.event === 'summary', 'the first (no-op) build');
await sleep(500);
const latencies = [];
for (let i = 0; i < SAVES; i++) {
  const m = big[i % big.length];
  m.conv = m.conv === 'LM' ? CONV[m.preset] : 'LM';
  const started = watch.next((e) => e.event === 'run' && e.node.startsWith(`config:${m.name}/`), `a config step of ${m.name}`);
  const done = watch.next((e) => e.event === 'summary', `rebuild ${i + 1}`);
  const t0 = performance.now();
  writeFileSync(join(L.dir, 'mlc.build.yaml'), manifest(big, quants, TARGETS));
  const e = await started;
  latencies.push(e.at - t0);
  await done;
  await sleep(300);
}
watch.c.kill('SIGINT');
await watch.closed;
const lat = { nodes, saves: SAVES, debounce_ms: DEBOUNCE_MS, median_ms: median(latencies), p90_ms: pct(latencies, 0.9), max_ms: Math.max(...latencies) };
lat.overhead_ms = lat.median_ms - DEBOUNCE_MS;
log(
  `   save → first affected step start: median ${lat.median_ms.toFixed(0)} ms (debounce + ${lat.overhead_ms.toFixed(0)} ms; target ≤ 150), p90 ${lat.p90_ms.toFixed(0)} ms, max ${lat.max_ms.toFixed(0)} ms`,
);

// ---- 2. the edit session ------------------------------------------------------------------------
const SLEEP = { config_: 400, compile_: 3000, convert_: 6000 };
const sleepTable = Object.fromEntries(Object.entries(SLEEP).map(([k, v]) => [`^${k}`, v]));
const sessionModels = () => [
  { name: 'Small-0', folder: 's0', preset: 'redpajama_3b_v1', conv: 'redpajama_chat', config: {} },
  { name: 'Small-1', folder: 's1', preset: 'qwen2_0_5b', conv: 'qwen2', config: {} },
  { name: 'Small-2', folder: 's2', preset: 'gemma_2b', conv: 'gemma_instruction', config: {} },
];
// Two scripts of 10 saves: [seconds after the first save, model, edit]. A context window or prefill
// change re-runs the model's config and compiles, a conv template its config only.
const SCRIPTS = {
  // One model tuned after another, each saved while the one before still builds.
  'one model at a time': [
    [0.0, 0, (m) => (m.config.context_window_size = 1024)],
    [1.0, 0, (m) => (m.conv = 'LM')],
    [2.0, 0, (m) => (m.config.prefill_chunk_size = 1024)],
    [3.0, 1, (m) => (m.config.context_window_size = 1024)],
    [4.0, 1, (m) => (m.conv = 'LM')],
    [5.5, 1, (m) => (m.config.context_window_size = 2048)],
    [6.5, 1, (m) => (m.config.prefill_chunk_size = 512)],
    [7.5, 2, (m) => (m.config.context_window_size = 1024)],
    [8.5, 2, (m) => (m.conv = 'LM')],
    [9.5, 2, (m) => (m.config.prefill_chunk_size = 1024)],
  ],
  // All three models edited in turn until the end: nearly every running step is superseded later anyway.
  interleaved: [
    [0.0, 0, (m) => (m.config.context_window_size = 1024)],
    [1.0, 1, (m) => (m.conv = 'LM')],
    [2.0, 0, (m) => (m.config.context_window_size = 2048)],
    [4.5, 2, (m) => (m.config.context_window_size = 1024)],
    [5.0, 1, (m) => (m.config.prefill_chunk_size = 1024)],
    [6.5, 2, (m) => (m.conv = 'LM')],
    [8.0, 0, (m) => (m.conv = 'LM')],
    [9.0, 1, (m) => (m.config.context_window_size = 2048)],
    [11.0, 2, (m) => (m.config.prefill_chunk_size = 512)],
    [12.0, 0, (m) => (m.config.context_window_size = 1024)],
  ],
};
const SESSION_TARGETS = ['cuda', 'vulkan'];

/** Every run the double started: its inputs, start, end (from its log, or when its process was gone), and whether it ended. */
function tracker(p) {
  const runs = new Map();
  let offset = 0;
  const poll = () => {
    if (existsSync(p.env.MLC_DOUBLE_STARTS)) {
      const text = readFileSync(p.env.MLC_DOUBLE_STARTS, 'utf8');
      for (const l of text.slice(offset).split('\n')) if (l.trim()) runs.set(JSON.parse(l).pid, { ...JSON.parse(l), end: undefined, completed: false });
      offset = text.length;
    }
    for (const r of runs.values()) {
      if (r.end !== undefined) continue;
      try {
        process.kill(r.pid, 0);
      } catch {
        r.end = Date.now();
      }
    }
  };
  const timer = setInterval(poll, 20);
  return {
    async stop() {
      clearInterval(timer);
      poll();
      const ends = existsSync(p.env.MLC_DOUBLE_LOG)
        ? readFileSync(p.env.MLC_DOUBLE_LOG, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l))
        : [];
      for (const e of ends) {
        const r = runs.get(e.pid);
        if (r) Object.assign(r, { end: e.end, completed: e.status === 0 });
      }
      return [...runs.values()];
    },
    idle: () => [...runs.values()].every((r) => r.end !== undefined),
  };
}

async function session(script, strategy) {
  const models = sessionModels();
  const p = project(`session-${script.replace(/ /g, '-')}-${strategy}`, models);
  const write = () => writeFileSync(join(p.dir, 'mlc.build.yaml'), manifest(models, ['q4f16_1'], SESSION_TARGETS));
  write();
  cli(p, ['build']); // the starting point: everything built, nothing slowed
  rmSync(p.env.MLC_DOUBLE_STARTS, { force: true });
  rmSync(p.env.MLC_DOUBLE_LOG, { force: true });
  writeFileSync(p.env.MLC_DOUBLE_SLEEP_FILE, JSON.stringify(sleepTable));
  const runs = tracker(p);
  let w;
  let build;
  let dirty = false;
  const startBuild = () => {
    dirty = false;
    build = child(p, ['build', '--json']);
    void build.closed.then(() => {
      build = undefined;
      if (dirty && strategy === 'finish-then-rebuild') startBuild();
    });
  };
  const saved = async () => {
    await sleep(DEBOUNCE_MS); // the same debounce as watch
    if (strategy === 'finish-then-rebuild') {
      if (build) dirty = true;
      else startBuild();
    } else if (strategy === 'cancel-downstream') {
      if (build) {
        const b = build;
        b.c.kill('SIGINT');
        await b.closed;
      }
      startBuild();
    }
  };
  if (strategy === 'cancel-by-key') {
    w = child(p, ['watch', '--json', '--debounce', String(DEBOUNCE_MS)]);
    await w.next((e) => e.event === 'summary', 'the first (no-op) build');
    await sleep(300);
  }
  const t0 = Date.now();
  const pending = [];
  for (const [at, i, edit] of SCRIPTS[script]) {
    await sleep(Math.max(0, t0 + at * 1000 - Date.now()));
    edit(models[i]);
    write();
    if (strategy !== 'cancel-by-key') pending.push(saved());
  }
  await Promise.all(pending);
  // Quiet: nothing runs and no build is under way (for watch: a summary after the last trigger).
  if (strategy === 'cancel-by-key') {
    const triggers = () => w.events.filter((e) => e.event === 'trigger').length;
    while (!(w.events.at(-1)?.event === 'summary' && triggers() > 0 && runs.idle())) await sleep(100);
    await sleep(1000);
    while (!(w.events.at(-1)?.event === 'summary' && runs.idle())) await sleep(100);
    w.c.kill('SIGINT');
    await w.closed;
  } else {
    while (build || dirty || !runs.idle()) await sleep(100);
  }
  const wall = (Date.now() - t0) / 1000;
  const all = await runs.stop();
  // The inputs the final state was built from: every step run once more, unslowed.
  writeFileSync(p.env.MLC_DOUBLE_SLEEP_FILE, '{}');
  const check = cli(p, ['status', '--json']);
  const notFresh = JSON.parse(check.stdout).filter((r) => r.state !== 'fresh');
  const finalStarts = join(p.dir, 'final-starts.log');
  cli({ ...p, env: { ...p.env, MLC_DOUBLE_STARTS: finalStarts } }, ['build', '-B']);
  const final = new Set(
    readFileSync(finalStarts, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).inputs),
  );
  const secs = (r) => ((r.end ?? Date.now()) - r.time) / 1000;
  const killed = all.filter((r) => !r.completed);
  const unused = all.filter((r) => r.completed && !final.has(r.inputs));
  const wanted = killed.filter((r) => final.has(r.inputs));
  if (process.env.BENCH_DEBUG)
    for (const r of all)
      console.log(
        `     ${strategy} ${((r.time - t0) / 1000).toFixed(1)}-${(((r.end ?? 0) - t0) / 1000).toFixed(1)} ${r.completed ? 'done  ' : 'KILLED'} ${final.has(r.inputs) ? 'final' : '     '} ${r.sub} ${
          r.args
            .find((a) => a.includes('/.mlc-build/tmp/'))
            ?.split('/.mlc-build/tmp/')[1]
            ?.split('@')[0]
        } ${r.args.includes('cuda') ? 'cuda' : r.args.includes('vulkan') ? 'vulkan' : ''}`,
      );
  const sum = (rs) => rs.reduce((a, r) => a + secs(r), 0);
  return {
    strategy,
    runs: all.length,
    step_seconds: sum(all),
    discarded_step_seconds: sum(killed) + sum(unused),
    killed: killed.length,
    finished_unused: unused.length,
    cancelled_but_wanted: wanted.length,
    wall_seconds: wall,
    not_fresh_after: notFresh.length,
  };
}

log(`2. edit sessions: 10 saves across 3 models × 1 quantization × ${SESSION_TARGETS.length} targets; steps sleep ${JSON.stringify(SLEEP)} ms`);
const sessions = {};
for (const script of Object.keys(SCRIPTS).filter((k) => !process.env.BENCH_SCRIPT || k === process.env.BENCH_SCRIPT)) {
  log(`   ${script}:`);
  const strategies = [];
  for (const s of ['cancel-by-key', 'finish-then-rebuild', 'cancel-downstream'].filter(
    (k) => !process.env.BENCH_STRATEGY || k === process.env.BENCH_STRATEGY,
  )) {
    const r = await session(script, s);
    strategies.push(r);
    log(
      `     ${s.padEnd(20)} discarded ${r.discarded_step_seconds.toFixed(1).padStart(5)} step-s of ${r.step_seconds.toFixed(1).padStart(5)} (${r.runs} runs: ${r.killed} killed, ${r.finished_unused} finished unused); cancelled-but-wanted ${r.cancelled_but_wanted}; quiet after ${r.wall_seconds.toFixed(1)} s; not fresh after: ${r.not_fresh_after}`,
    );
  }
  const ours = strategies[0];
  const fewest = strategies.every((r) => ours.discarded_step_seconds <= r.discarded_step_seconds + 1e-9);
  log(
    `     cancel-by-key discards the fewest step-seconds: ${fewest ? 'yes' : 'NO'}; its cancels of runs whose inputs were still wanted: ${ours.cancelled_but_wanted}`,
  );
  sessions[script] = { fewest, strategies };
}

mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(
  join(root, 'bench/results/watch.json'),
  JSON.stringify(
    { date: new Date().toISOString(), cpus: cpus().length, node: process.version, latency: lat, sessions: { sleep_ms: SLEEP, ...sessions } },
    null,
    2,
  ) + '\n',
);
rmSync(base, { recursive: true, force: true });
