#!/usr/bin/env node
// bench/schedule: how close the scheduler gets to the best possible makespan. Synthetic release
// graphs are built with the mlc_llm test double sleeping a given duration per step. A first build
// teaches the store each step's duration; the store (not durations.json) and out/ are then cleared
// and a second build is measured. Its makespan (first step started → last step finished) is
// compared with the lower bound max(critical path, total work / slots), where each step's work is
// what it took in that build (its run → finish events). Peers in the same run: ninja and make -j
// on the same graph, each step a `sleep` of the same work. Target: ratio ≤ 1.05.
// Figures go to stdout and bench/results/schedule.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const DOUBLE = join(root, 'test/double/mlc_llm.mjs');
const log = (s) => console.log(s);

const GRAPHS = [
  // A release matrix: conversions are long, compiles many.
  {
    name: 'matrix',
    models: 6,
    quants: ['q4f16_1', 'q0f16'],
    targets: ['cuda', 'vulkan-generic', 'metal-x86_64'],
    slots: 4,
    ms: { convert: [1500, 4000], config: [100, 300], compile: [300, 1500] },
  },
  // Few long conversions with many targets each: the chains through convert decide.
  {
    name: 'long-chains',
    models: 3,
    quants: ['q4f16_1'],
    targets: ['cuda', 'vulkan-generic', 'metal-x86_64', 'iphone', 'android', 'webgpu', 'opencl', 'mali'],
    slots: 3,
    ms: { convert: [2000, 6000], config: [100, 300], compile: [200, 900] },
  },
  // One conversion as long as everything else over the slots, listed last: it must start first.
  {
    name: 'critical',
    models: 6,
    quants: ['q4f16_1'],
    targets: ['cuda', 'vulkan-generic', 'metal-x86_64'],
    slots: 2,
    ms: { convert: [1000, 1000], config: [200, 200], compile: [100, 300] },
    fixed: { 'convert:M5/q4f16_1': 16000 },
  },
];

/** A small deterministic PRNG: the same durations every run. */
function rng(seed) {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const PRESETS = [
  ['llama2_7b', 'llama-2'],
  ['mistral_7b', 'mistral_default'],
  ['qwen2_0_5b', 'qwen2'],
  ['redpajama_3b_v1', 'redpajama_chat'],
  ['gemma_2b', 'gemma_instruction'],
  ['phi-2', 'phi-2'],
];

/** A model of its own: a different architecture each (so no two steps share a key), its own bytes. */
function writeModel(dir, name, i) {
  const d = join(dir, 'hf', name);
  mkdirSync(d, { recursive: true });
  const [preset] = PRESETS[i % PRESETS.length];
  const config = JSON.parse(readFileSync(join(root, 'test/fixtures/hf-configs', `${preset}.json`), 'utf8'));
  // Same architecture twice (more models than presets): a different vocabulary makes it another model.
  if (i >= PRESETS.length) config.vocab_size = (config.vocab_size ?? 32000) + i;
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' }, name }));
  writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(64 * 1024, i + 1));
}

/** Runs mlc-build --json; returns when each event arrived (ms since spawn) and the exit code. */
function buildWithEvents(dir, env, args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, '--json', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const events = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      const now = performance.now() - t0;
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        events.push({ ...JSON.parse(buf.slice(0, nl)), at: now });
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ events, wall: performance.now() - t0 }) : reject(new Error(`mlc-build exited ${code}\n${stderr}`))));
  });
}

function criticalPath(nodes, work) {
  const memo = new Map();
  const longest = (id) => {
    if (memo.has(id)) return memo.get(id);
    const n = nodes.get(id);
    const v = (work.get(id) ?? 0) + Math.max(0, ...n.deps.map(longest));
    memo.set(id, v);
    return v;
  };
  return Math.max(...[...nodes.keys()].map(longest));
}

/** The same graph for ninja and make: one target per node, its recipe a sleep of its work. */
function peerFiles(dir, nodes, work) {
  const name = (id) => id.replace(/[^\w.-]+/g, '_');
  const ninja = ['rule s', '  command = sleep $secs && touch $out', ''];
  const make = ['all: ' + [...nodes.keys()].map(name).join(' '), ''];
  for (const [id, n] of nodes) {
    const secs = ((work.get(id) ?? 0) / 1000).toFixed(3);
    ninja.push(`build ${name(id)}: s ${n.deps.map(name).join(' ')}`, `  secs = ${secs}`);
    make.push(`${name(id)}: ${n.deps.map(name).join(' ')}`, `\t@sleep ${secs} && touch $@`);
  }
  mkdirSync(join(dir, 'peer'), { recursive: true });
  writeFileSync(join(dir, 'peer/build.ninja'), ninja.join('\n') + '\n');
  writeFileSync(join(dir, 'peer/Makefile'), make.join('\n') + '\n');
}

function timePeer(dir, cmd, args, nodes, work) {
  rmSync(join(dir, 'peer'), { recursive: true, force: true });
  peerFiles(dir, nodes, work);
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: join(dir, 'peer'), stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return performance.now() - t0;
}

const results = { date: new Date().toISOString(), target: 1.05, graphs: [] };
const only = process.env.BENCH_GRAPHS?.split(','); // e.g. BENCH_GRAPHS=critical
for (const [gi, g] of GRAPHS.entries()) {
  if (only && !only.includes(g.name)) continue;
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `mlc-build-schedule-${g.name}-`));
  const models = Array.from({ length: g.models }, (_, i) => `M${i}`);
  models.forEach((m, i) => writeModel(dir, m, i));
  mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
  writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode');
  writeFileSync(
    join(dir, 'mlc.build.yaml'),
    [
      'version: 1',
      'models:',
      ...models.map((m, i) => `  ${m}: { source: ./hf/${m}, conv_template: ${PRESETS[i % PRESETS.length][1]} }`),
      `quantizations: [${g.quants.join(', ')}]`,
      `targets: [${g.targets.join(', ')}]`,
      `resources: { cpu: ${g.slots}, gpu: 0 }`,
      '',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    MLC_BUILD_MLC_LLM: DOUBLE,
    MLC_BUILD_ALL_HOSTS: '1',
    MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
    XDG_CACHE_HOME: join(dir, 'xdg'),
    TVM_NDK_CC: '/bin/true',
    MLC_DOUBLE_SLEEP_FILE: join(dir, 'sleeps.json'),
  };

  const plan = JSON.parse(spawnSync(process.execPath, [BIN, 'plan', '--json'], { cwd: dir, env, encoding: 'utf8' }).stdout);
  const nodes = new Map(plan.nodes.map((n) => [n.id, n]));
  const r = rng(0x9e3779b9 + gi);
  const sleeps = {};
  for (const n of plan.nodes) {
    const range = g.ms[n.kind];
    if (range) sleeps[`^${n.id.replace(/[^\w.-]+/g, '_').replace(/\./g, '\\.')}@`] = g.fixed?.[n.id] ?? Math.round(range[0] + r() * (range[1] - range[0]));
  }
  writeFileSync(join(dir, 'sleeps.json'), JSON.stringify(sleeps));

  const args = ['-j', String(g.slots)];
  await buildWithEvents(dir, env, args); // learns the durations
  for (const p of ['dist', '.mlc-build/ac', '.mlc-build/cas', '.mlc-build/projects', '.mlc-build/stat-cache.json', 'xdg'])
    rmSync(join(dir, p), { recursive: true, force: true });
  const { events, wall } = await buildWithEvents(dir, env, args);

  const runAt = new Map(events.filter((e) => e.event === 'run').map((e) => [e.node, e.at]));
  const work = new Map(events.filter((e) => e.event === 'finish' && runAt.has(e.node)).map((e) => [e.node, e.at - runAt.get(e.node)]));
  const first = Math.min(...runAt.values());
  const last = Math.max(...events.filter((e) => e.event === 'finish').map((e) => e.at));
  const makespan = last - first;
  const total = [...work.values()].reduce((a, b) => a + b, 0);
  const cp = criticalPath(nodes, work);
  const bound = Math.max(cp, total / g.slots);

  const peer = (cmd, argv) => timePeer(dir, cmd, argv, nodes, work);
  const ninjaMs = peer('ninja', ['-j', String(g.slots)]);
  const makeMs = peer('make', ['-j', String(g.slots)]);
  const row = {
    graph: g.name,
    steps: work.size,
    slots: g.slots,
    work_ms: Math.round(total),
    critical_path_ms: Math.round(cp),
    lower_bound_ms: Math.round(bound),
    makespan_ms: Math.round(makespan),
    ratio: Number((makespan / bound).toFixed(3)),
    wall_ms: Math.round(wall),
    ninja_ms: Math.round(ninjaMs),
    ninja_ratio: Number((ninjaMs / bound).toFixed(3)),
    make_ms: Math.round(makeMs),
    make_ratio: Number((makeMs / bound).toFixed(3)),
  };
  results.graphs.push(row);
  log(
    `${g.name}: ${row.steps} steps on ${g.slots} slots; work ${row.work_ms} ms, critical path ${row.critical_path_ms} ms, bound ${row.lower_bound_ms} ms\n` +
      `  mlc-build makespan ${row.makespan_ms} ms = ${row.ratio}× the bound (whole run ${row.wall_ms} ms)\n` +
      `  ninja ${row.ninja_ms} ms = ${row.ninja_ratio}×, make ${row.make_ms} ms = ${row.make_ratio}× (same graph, sleeps of the same work)`,
  );
  rmSync(dir, { recursive: true, force: true });
}
results.worst_ratio = Math.max(...results.graphs.map((g) => g.ratio));
log(`worst ratio ${results.worst_ratio} (target ≤ ${results.target})`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/schedule.json'), JSON.stringify(results, null, 2) + '\n');
