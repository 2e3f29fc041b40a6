#!/usr/bin/env node
// bench/restore: restoring the whole out/ of a release from the store, against `cp -r` of it.
// A generated project of BENCH_MODELS models (40) × 3 quantizations × the seed's 8 targets, each
// with BENCH_MODEL_MB MiB of weights (27), converted by the mlc_llm test double in 1 MiB shards
// (BENCH_SHARD_KB): about 1,400 steps, 1.7 GB and 5,450 files in out/. Built once; then, alternating
// which goes first, medians of BENCH_RUNS (5): `rm -rf out/` and a plain `mlc-build` (every step
// restored from the store) vs `cp -r out/ copy/`. A `sync` (untimed) after each, so neither pays for
// the other's writeback. Target: the restore in ≤ 10 % of cp -r's time.
// Also timed in the same runs: a build with everything in place through the full path (the no-op
// stamp removed), i.e. deciding alone, the floor under a restore; and, with BENCH_BASE=DIR, the
// restore by another (built) checkout, for before and after. BENCH_PROFILE=1 adds one restore
// under --cpu-prof and prints where its time went.
// Figures go to stdout and bench/results/restore.json. BENCH_MODELS=4 makes a tenth of it, for iterating.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONV, PRESETS } from './models.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const MODELS = Number(process.env.BENCH_MODELS ?? 40);
const MODEL_MB = Number(process.env.BENCH_MODEL_MB ?? 27);
const SHARD_KB = Number(process.env.BENCH_SHARD_KB ?? 1024);
const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const BASE = process.env.BENCH_BASE; // another checkout (built), timed in the same runs: before and after

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-restore-'));
const out = join(dir, 'out');
const copy = join(dir, 'copy');
const env = {
  ...process.env,
  MLC_BUILD_MLC_LLM: join(root, 'test/double/mlc_llm.mjs'),
  MLC_BUILD_ALL_HOSTS: '1',
  MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
  MLC_DOUBLE_SHARD_CAP: String(SHARD_KB * 1024),
  XDG_CACHE_HOME: join(dir, 'xdg'),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((l) => Number(l.toFixed(2)));
const log = (s) => console.log(s);

function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

// CPU time (user + system) of a node command, through GNU time where it is: on a machine shared
// with other work, wall times vary with the load far more than CPU times do.
const GNU_TIME = spawnSync('/usr/bin/time', ['-f', '%U', 'true']).status === 0 ? '/usr/bin/time' : undefined;
function timedNode(args) {
  if (!GNU_TIME) return { ...timed(process.execPath, args, { cwd: dir, env }), cpu: undefined };
  const file = join(dir, 'cpu.txt');
  const r = timed(GNU_TIME, ['-f', '%U %S', '-o', file, process.execPath, ...args], { cwd: dir, env });
  const [user, sys] = readFileSync(file, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ...r, cpu: (user + sys) * 1000 };
}

function generate() {
  mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
  writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode');
  const lines = ['version: 1', 'out: out', 'models:'];
  for (let i = 0; i < MODELS; i++) {
    const preset = PRESETS[i % PRESETS.length];
    const m = join(dir, 'hf', `m${i}`);
    mkdirSync(m, { recursive: true });
    copyFileSync(join(root, 'test/fixtures/hf-configs', `${preset}.json`), join(m, 'config.json'));
    writeFileSync(join(m, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' }, decoder: { type: 'ByteLevel' }, i }));
    writeFileSync(join(m, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 2048 }));
    writeFileSync(join(m, 'model.safetensors'), randomBytes(MODEL_MB * 1024 * 1024));
    lines.push(`  Model-${i}: { source: ./hf/m${i}, conv_template: ${CONV[preset]} }`);
  }
  lines.push('quantizations: [q4f16_1, q4f32_1, q0f16]', 'targets: [cuda, metal, metal-x86_64, vulkan, vulkan-windows, webgpu, iphone, android]');
  writeFileSync(join(dir, 'mlc.build.yaml'), lines.join('\n') + '\n');
}

/** Files under a folder, the bytes cp -r copies (a hardlinked file once per name) and the bytes on disk (once). */
function measure(folder) {
  let files = 0;
  let bytes = 0;
  const inodes = new Map();
  for (const e of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const st = statSync(join(e.parentPath, e.name));
    files++;
    bytes += st.size;
    inodes.set(st.ino, st.size);
  }
  return { files, bytes, unique: [...inodes.values()].reduce((a, b) => a + b, 0) };
}

/** rm -rf out/ (untimed), then a plain build that must restore every step and run none. */
function restore(bin, args = []) {
  rmSync(out, { recursive: true, force: true });
  execFileSync('sync');
  const r = timedNode([...args, bin]);
  if (/^ {2}ran /m.test(r.stderr)) throw new Error(`the restore ran steps:\n${r.stderr.slice(-2000)}`);
  execFileSync('sync');
  return r;
}

function copyOut() {
  rmSync(copy, { recursive: true, force: true });
  execFileSync('sync');
  const r = timed('cp', ['-r', out, copy]);
  execFileSync('sync');
  return r;
}

/** A plain build with everything in place, through the full path (no stamp): deciding alone, the floor under a restore. */
function decideOnly() {
  rmSync(join(dir, 'xdg'), { recursive: true, force: true });
  const r = timedNode([BIN]);
  if (!/nothing to do/.test(r.stderr)) throw new Error(`expected nothing to do:\n${r.stderr.slice(-2000)}`);
  return r;
}

/** The functions with the most self time in a CPU profile, grouped by name. */
function topOfProfile(folder, n) {
  const file = readdirSync(folder).find((f) => f.endsWith('.cpuprofile'));
  const p = JSON.parse(readFileSync(join(folder, file), 'utf8'));
  const nodes = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map();
  p.samples.forEach((id, i) => {
    const f = nodes.get(id).callFrame;
    const name = `${f.functionName || '(anonymous)'}${f.url ? ` ${f.url.split('/').pop()}` : ''}`;
    self.set(name, (self.get(name) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  const total = (p.endTime - p.startTime) / 1000;
  return {
    total_ms: Math.round(total),
    top: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms: Math.round(ms) })),
  };
}

log(
  `bench/restore in ${dir}: ${MODELS} models × ${MODEL_MB} MiB, 3 quantizations, 8 targets, ${SHARD_KB} KiB shards; ${availableParallelism()} CPUs; load ${load().join(' ')}`,
);
generate();
const first = timed(process.execPath, [BIN], { cwd: dir, env });
const steps = JSON.parse(timed(process.execPath, [BIN, 'graph', '--format', 'json'], { cwd: dir, env }).stdout).nodes.length;
const size = measure(out);
log(
  `first build: ${(first.ms / 1000).toFixed(1)} s, ${steps} steps; out/: ${size.files} files, ${(size.unique / 1e9).toFixed(2)} GB (${(size.bytes / 1e9).toFixed(2)} GB as cp -r copies it)`,
);

// Each run times every contender once; the order rotates from run to run.
const contenders = [
  { name: 'mlc-build', run: () => restore(BIN) },
  { name: 'cp -r', run: copyOut },
  { name: 'deciding only', run: decideOnly },
  ...(BASE ? [{ name: `mlc-build of ${BASE}`, run: () => restore(join(BASE, 'bin/mlc-build.js')) }] : []),
];
const loadBefore = load();
const times = new Map(contenders.map((c) => [c.name, []]));
const cpuTimes = new Map(contenders.map((c) => [c.name, []]));
for (let i = 0; i < RUNS; i++) {
  for (let j = 0; j < contenders.length; j++) {
    const c = contenders[(i + j) % contenders.length];
    const r = c.run();
    times.get(c.name).push(r.ms);
    if (r.cpu !== undefined) cpuTimes.get(c.name).push(r.cpu);
  }
}
const cpuMedians = Object.fromEntries([...cpuTimes].filter(([, ts]) => ts.length > 0).map(([name, ts]) => [name, Math.round(median(ts))]));
const loadAfter = load();
const restoredSize = measure(out);
if (restoredSize.files !== size.files || restoredSize.bytes !== size.bytes || restoredSize.unique !== size.unique)
  throw new Error(`restored ${JSON.stringify(restoredSize)}, built ${JSON.stringify(size)}`);
const med = (name) => median(times.get(name));
const oursMs = med('mlc-build');
const cpMs = med('cp -r');
const decideMs = med('deciding only');
log(`restore of out/: mlc-build ${Math.round(oursMs)} ms, cp -r ${Math.round(cpMs)} ms (${((oursMs / cpMs) * 100).toFixed(1)} %)`);
log(`  of which deciding (a build with everything in place, no stamp): ${Math.round(decideMs)} ms; placing: ${Math.round(oursMs - decideMs)} ms`);
if (BASE) log(`  ${BASE}: ${Math.round(med(`mlc-build of ${BASE}`))} ms (${((med(`mlc-build of ${BASE}`) / cpMs) * 100).toFixed(1)} %)`);
for (const [name, ts] of times) log(`  runs, ${name}: ${ts.map(Math.round).join(' ')}`);
if (Object.keys(cpuMedians).length > 0)
  log(
    `  CPU time (user + system), medians: ${Object.entries(cpuMedians)
      .map(([name, ms]) => `${name} ${ms} ms`)
      .join('; ')}`,
  );
log(`load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);

let profile;
if (process.env.BENCH_PROFILE) {
  const profDir = join(dir, 'profile');
  restore(BIN, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  profile = topOfProfile(profDir, 15);
  log(`where a restore's time goes (CPU profile, ${profile.total_ms} ms):`);
  for (const t of profile.top) log(`  ${String(t.ms).padStart(6)} ms  ${t.name}`);
}

const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  load: { before: loadBefore, after: loadAfter },
  project: {
    models: MODELS,
    model_mib: MODEL_MB,
    shard_kib: SHARD_KB,
    steps,
    files: size.files,
    gb: Number((size.unique / 1e9).toFixed(2)),
    gb_copied: Number((size.bytes / 1e9).toFixed(2)),
  },
  first_build_s: Number((first.ms / 1000).toFixed(1)),
  runs: RUNS,
  restore_ms: Math.round(oursMs),
  cp_r_ms: Math.round(cpMs),
  percent_of_cp: Number(((oursMs / cpMs) * 100).toFixed(1)),
  deciding_only_ms: Math.round(decideMs),
  ...(BASE
    ? {
        base: {
          dir: BASE,
          restore_ms: Math.round(med(`mlc-build of ${BASE}`)),
          percent_of_cp: Number(((med(`mlc-build of ${BASE}`) / cpMs) * 100).toFixed(1)),
        },
      }
    : {}),
  runs_ms: Object.fromEntries([...times].map(([name, ts]) => [name, ts.map(Math.round)])),
  cpu_ms: cpuMedians,
  ...(profile ? { profile } : {}),
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/restore.json'), JSON.stringify(results, null, 2) + '\n');
if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
