#!/usr/bin/env node
// bench/plan: how planning scales. Generates manifests of M models × 4 quantizations × 25 targets,
// runs `mlc-build plan --json` on each (the real CLI, a fresh process), and records wall time and
// peak memory. Peer: `ninja -n` on a build.ninja with the same nodes and edges, in the same run.
// Figures go to stdout and bench/results/plan.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/mlc-build.js', import.meta.url));
const RUNS = 5;
const QUANTS = ['q4f16_1', 'q4f32_1', 'q0f16', 'q3f16_1'];
const PRESETS = [
  'cuda',
  'rocm',
  'metal',
  'metal-x86_64',
  'metal-generic',
  'vulkan',
  'vulkan-windows',
  'vulkan-generic',
  'webgpu',
  'iphone',
  'macabi',
  'android',
  'android-adreno',
  'android-adreno-so',
  'windows-adreno',
  'mali',
  'opencl',
];
// 8 more targets built from presets with their own options, so configs have variants too.
const CUSTOM = [
  '{ name: cuda-sm80, preset: cuda, env: { MLC_MULTI_ARCH: "80" } }',
  '{ name: cuda-sm90, preset: cuda, env: { MLC_MULTI_ARCH: "90a" }, opt: O3 }',
  '{ name: webgpu-ctx1k, preset: webgpu, config: { context_window_size: 1024 } }',
  '{ name: webgpu-cs512, preset: webgpu, config: { prefill_chunk_size: 512 } }',
  '{ name: iphone-ctx2k, preset: iphone, config: { context_window_size: 2048 } }',
  '{ name: android-batch4, preset: android, config: { max_batch_size: 4 } }',
  '{ name: vulkan-tp2, preset: vulkan-generic, config: { tensor_parallel_shards: 2 } }',
  '{ name: metal-sink4, preset: metal, config: { attention_sink_size: 4 } }',
];

function manifest(models) {
  const lines = ['version: 1', 'models:'];
  for (let i = 0; i < models; i++) lines.push(`  Model-${i}-7B: { source: hf://org/Model-${i}-7B, conv_template: llama-2 }`);
  lines.push(`quantizations: [${QUANTS.join(', ')}]`, 'targets:');
  for (const p of PRESETS) lines.push(`  - ${p}`);
  for (const c of CUSTOM) lines.push(`  - ${c}`);
  return lines.join('\n') + '\n';
}

/** Runs the CLI in a fresh node; returns wall ms and the child's own peak RSS (KiB). */
function timeCli(dir) {
  return new Promise((resolve, reject) => {
    const code = `process.on('exit', () => require('node:fs').writeSync(3, String(process.resourceUsage().maxRSS)));
      process.argv.splice(1, 0, ${JSON.stringify(BIN)}); import(${JSON.stringify(BIN)});`;
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', code, '--', 'plan', '--json'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let rss = '';
    let err = '';
    child.stdio[3].on('data', (d) => (rss += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (status) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (status !== 0) reject(new Error(`plan exited ${status}: ${err}`));
      else resolve({ ms, rssKiB: Number(rss) });
    });
  });
}

function nodesOf(dir) {
  const r = spawnSync(process.execPath, [BIN, 'graph', '--format', 'json'], { cwd: dir, maxBuffer: 1 << 30 });
  return JSON.parse(r.stdout.toString()).nodes;
}

function ninjaFile(nodes) {
  const esc = (s) => s.replace(/[:$ ]/g, (c) => `$${c}`);
  const lines = ['rule step', '  command = true', ''];
  for (const n of nodes) lines.push(`build ${esc(n.id)}: step${n.deps.length ? ' ' + n.deps.map(esc).join(' ') : ''}`);
  return lines.join('\n') + '\n';
}

function timeNinja(dir) {
  const probe = spawnSync('ninja', ['--version']);
  if (probe.status !== 0) return undefined;
  const start = process.hrtime.bigint();
  const r = spawnSync('ninja', ['-n', '-C', dir], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('ninja -n failed');
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = [];
for (const models of [10, 30, 100]) {
  const dir = mkdtempSync(join(tmpdir(), 'mlc-build-bench-plan-'));
  writeFileSync(join(dir, 'mlc.build.yaml'), manifest(models));
  const nodes = nodesOf(dir);
  writeFileSync(join(dir, 'build.ninja'), ninjaFile(nodes));
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await timeCli(dir));
  const ninja = [];
  for (let i = 0; i < RUNS; i++) ninja.push(timeNinja(dir));
  const ms = median(runs.map((r) => r.ms));
  const ninjaMs = ninja[0] === undefined ? null : median(ninja);
  const row = {
    models,
    cells: models * QUANTS.length * (PRESETS.length + CUSTOM.length),
    nodes: nodes.length,
    plan_ms: Math.round(ms),
    plan_peak_rss_mib: Math.round(Math.max(...runs.map((r) => r.rssKiB)) / 1024),
    us_per_node: Math.round((ms * 1000) / nodes.length),
    ninja_dry_run_ms: ninjaMs === null ? null : Math.round(ninjaMs),
    ratio_to_ninja: ninjaMs === null ? null : Number((ms / ninjaMs).toFixed(2)),
  };
  results.push(row);
  console.log(
    `${String(row.nodes).padStart(6)} nodes (${models} models × 4 quants × 25 targets): plan ${row.plan_ms} ms, peak ${row.plan_peak_rss_mib} MiB, ${row.us_per_node} µs/node; ninja -n ${row.ninja_dry_run_ms ?? 'n/a'} ms (×${row.ratio_to_ninja ?? 'n/a'})`,
  );
}
const first = results[0];
const last = results[results.length - 1];
const growth = last.plan_ms / first.plan_ms / (last.nodes / first.nodes);
console.log(
  `time grows ${growth.toFixed(2)}× as fast as the node count from ${first.nodes} to ${last.nodes} nodes (1.00 = linear; process start-up makes small plans look dearer)`,
);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/plan.json', import.meta.url),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      runs: RUNS,
      results,
      growth_vs_linear: Number(growth.toFixed(2)),
    },
    null,
    2,
  ) + '\n',
);
