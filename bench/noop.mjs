#!/usr/bin/env node
// bench/noop: the no-op build however it is called, and `status` on a fresh tree, each against
// `node -e 0` in the same run (alternating; the median of the paired ratios). The project is
// bench/build's: BENCH_MODELS models × BENCH_MODEL_MB + one model of BENCH_BIG_MB, × 3
// quantizations × the seed's 8 targets, built with the mlc_llm test double. Each form is run once
// untimed first (it takes the full path and writes its stamp), then timed; every timed run must be
// answered by the stamp (MLC_BUILD_NOOP_TRACE) and print what the form prints on a no-op.
// Targets: ≤ 1.3× for the no-op builds, ≤ 2× for status. Figures go to stdout and
// bench/results/noop.json. BENCH_PROJECT=DIR reuses a project this script built (BENCH_KEEP=1
// keeps it); BENCH_BEFORE=DIR also times another built checkout of mlc-build (the code before a
// change) on each form in the same runs, for a before/after table.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONV, PRESETS } from './models.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const BEFORE = process.env.BENCH_BEFORE && join(process.env.BENCH_BEFORE, 'bin/mlc-build.js');
const DOUBLE = join(root, 'test/double/mlc_llm.mjs');
const MODELS = Number(process.env.BENCH_MODELS ?? 40);
const MODEL_MB = Number(process.env.BENCH_MODEL_MB ?? 50);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 2048);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

const reuse = process.env.BENCH_PROJECT;
const dir = reuse ?? mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-noop-'));
const elsewhere = mkdtempSync(join(tmpdir(), 'mlc-build-bench-noop-cwd-'));
const base = {
  ...process.env,
  MLC_BUILD_MLC_LLM: DOUBLE,
  MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
  XDG_CACHE_HOME: join(dir, '.xdg-cache'),
};
delete base.MLC_BUILD_ALL_HOSTS;
const allHosts = { ...base, MLC_BUILD_ALL_HOSTS: '1' };
// Says on stderr whether the stamp answered; no step reads it, and the stamp does not cover it.
const traced = (env) => ({ ...env, MLC_BUILD_NOOP_TRACE: '1' });
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (s) => console.log(s);

function writeModel(name, preset, mb) {
  const d = join(dir, 'hf', name);
  mkdirSync(d, { recursive: true });
  copyFileSync(join(root, 'test/fixtures/hf-configs', `${preset}.json`), join(d, 'config.json'));
  writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' }, decoder: { type: 'ByteLevel' }, name }));
  const shards = Math.max(1, Math.ceil(mb / 512));
  const map = {};
  for (let i = 0; i < shards; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const size = Math.min(512, mb - i * 512) * 1024 * 1024;
    const chunk = randomBytes(Math.min(size, 64 * 1024 * 1024));
    const parts = [];
    for (let off = 0; off < size; off += chunk.length) parts.push(chunk.subarray(0, Math.min(chunk.length, size - off)));
    writeFileSync(join(d, file), Buffer.concat(parts));
    map[`layer.${i}`] = file;
  }
  writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
}

function generate() {
  mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
  writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode');
  const lines = ['version: 1', 'models:'];
  for (let i = 0; i < MODELS; i++) {
    const preset = PRESETS[i % PRESETS.length];
    writeModel(`m${i}`, preset, MODEL_MB);
    lines.push(`  Model-${i}: { source: ./hf/m${i}, conv_template: ${CONV[preset]} }`);
  }
  writeModel('big', 'llama2_7b', BIG_MB);
  lines.push('  Big-7B: { source: ./hf/big, conv_template: llama-2 }');
  lines.push('quantizations: [q4f16_1, q4f32_1, q0f16]', 'targets: [cuda, metal, metal-x86_64, vulkan, vulkan-windows, webgpu, iphone, android]');
  writeFileSync(join(dir, 'mlc.build.yaml'), lines.join('\n') + '\n');
}

// Each timed process also reports the CPU time it used (all its threads, start-up included) on a
// fourth descriptor as it exits: steadier than wall time when the machine is shared.
const CPU_REPORT = join(elsewhere, 'cpu-report.cjs');
writeFileSync(CPU_REPORT, "process.on('exit', () => { const u = process.cpuUsage(); require('fs').writeSync(3, String((u.user + u.system) / 1000)); });\n");
const node = (args, opts) => {
  const r = spawnSync(process.execPath, ['-r', CPU_REPORT, ...args], {
    ...opts,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  return { ...r, cpu: Number(r.output[3]) };
};
const mlcBuild = (args, env, cwd = dir, bin = BIN) => {
  const r = node([bin, ...args], { cwd, env });
  if (r.status !== 0) throw new Error(`mlc-build ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  return r;
};

function countFiles(d) {
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(d, e.name)) : 1;
  return n;
}

if (!reuse || !existsSync(join(dir, 'mlc.build.yaml'))) generate();
log(`bench/noop in ${dir}: ${MODELS} models × ${MODEL_MB} MB + one of ${BIG_MB} MB, 3 quantizations, 8 targets, ${cpus().length} CPUs`);
const t0 = process.hrtime.bigint();
mlcBuild(['build'], allHosts);
const firstS = ms(t0) / 1000;
const steps = JSON.parse(mlcBuild(['graph', '--format', 'json'], allHosts).stdout).nodes.length;
// Bytes of distinct files (variant folders link to the base variant's weights), as du counts them.
const inodes = new Set();
const outBytes = (function size(d) {
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    if (e.isDirectory()) {
      n += size(join(d, e.name));
      continue;
    }
    const st = statSync(join(d, e.name));
    if (!inodes.has(st.ino)) n += st.size;
    inodes.add(st.ino);
  }
  return n;
})(join(dir, 'dist'));
const outFiles = countFiles(join(dir, 'dist'));
log(`first build (or catching up): ${firstS.toFixed(1)} s; ${steps} steps, ${outFiles} files and ${(outBytes / 2 ** 30).toFixed(2)} GiB in out/`);

/** The forms users call it by: [name, args, env, cwd, what it prints on a no-op]. */
const FORMS = [
  ['mlc-build (host-aware)', [], base, dir, 'nothing to do'],
  ['mlc-build build --all-hosts', ['build', '--all-hosts'], base, dir, 'nothing to do'],
  ['MLC_BUILD_ALL_HOSTS=1 mlc-build build', ['build'], allHosts, dir, 'nothing to do'],
  ['mlc-build --all-hosts model=… target=…', ['--all-hosts', 'model=Model-1,Big-7B', 'target=cuda,android'], base, dir, 'nothing to do'],
  ['mlc-build -j 2 -k', ['-j', '2', '-k'], base, dir, 'nothing to do'],
  ['mlc-build -C DIR (from another folder)', ['-C', dir], base, elsewhere, 'nothing to do'],
  ['mlc-build --json', ['--json'], base, dir, '"event":"summary"'],
  ['mlc-build status (fresh tree)', ['status'], base, dir, 'artifacts:'],
];

const results = [];
for (const [name, args, env, cwd, says] of FORMS) {
  // The full path writes this form's stamp (unless the previous form's request was the same: -j and -k change none).
  const first = mlcBuild(args, traced(env), cwd);
  if (!/no-op stamp( written|: answered)/.test(first.stderr)) throw new Error(`${name}: no stamp was written:\n${first.stderr}`);
  if (BEFORE) mlcBuild(args, env, cwd, BEFORE);
  const runs = { own: [], node: [], before: [], ownCpu: [], nodeCpu: [], beforeCpu: [] };
  for (let i = 0; i < RUNS; i++) {
    const a = process.hrtime.bigint();
    const r = mlcBuild(args, traced(env), cwd);
    runs.own.push(ms(a));
    runs.ownCpu.push(r.cpu);
    if (!r.stderr.includes('no-op stamp: answered') || !(r.stdout + r.stderr).includes(says))
      throw new Error(`${name}: expected an answer from the stamp saying "${says}", got:\n${r.stderr}${r.stdout.slice(0, 2000)}`);
    const b = process.hrtime.bigint();
    runs.nodeCpu.push(node(['-e', '0'], {}).cpu);
    runs.node.push(ms(b));
    if (BEFORE) {
      const c = process.hrtime.bigint();
      const old = mlcBuild(args, env, cwd, BEFORE);
      runs.before.push(ms(c));
      runs.beforeCpu.push(old.cpu);
      if (!(old.stdout + old.stderr).includes(says)) throw new Error(`${name}, before: expected "${says}", got:\n${old.stderr}`);
    }
  }
  // Ratios pair each run with the node -e 0 beside it, so that a load that comes and goes moves both.
  const ratio = (xs, peer) => Number(median(xs.map((x, i) => x / peer[i])).toFixed(2));
  const row = {
    form: name,
    ms: Math.round(median(runs.own)),
    node_e_0_ms: Math.round(median(runs.node)),
    ratio: ratio(runs.own, runs.node),
    cpu_ms: Math.round(median(runs.ownCpu)),
    node_e_0_cpu_ms: Math.round(median(runs.nodeCpu)),
    cpu_ratio: ratio(runs.ownCpu, runs.nodeCpu),
  };
  if (BEFORE) {
    Object.assign(row, {
      before_ms: Math.round(median(runs.before)),
      before_ratio: ratio(runs.before, runs.node),
      before_cpu_ratio: ratio(runs.beforeCpu, runs.nodeCpu),
    });
  }
  results.push(row);
  const before = BEFORE ? `  before ${String(row.before_ms).padStart(5)} ms ×${row.before_ratio.toFixed(2)} (cpu ×${row.before_cpu_ratio.toFixed(2)})` : '';
  log(
    `${name.padEnd(42)} ${String(row.ms).padStart(5)} ms  node -e 0 ${String(row.node_e_0_ms).padStart(4)} ms  ×${row.ratio.toFixed(2)} (cpu ×${row.cpu_ratio.toFixed(2)})${before}`,
  );
}
const load = loadavg().map((l) => Number(l.toFixed(2)));
log(`load average: ${load.join(' ')}`);

const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  load,
  runs: RUNS,
  project: {
    models: MODELS + 1,
    model_mb: MODEL_MB,
    big_mb: BIG_MB,
    steps,
    out_files: outFiles,
    out_gib: Number((outBytes / 2 ** 30).toFixed(2)),
    reused: Boolean(reuse),
    first_build_s: Number(firstS.toFixed(1)),
  },
  targets: { noop_ratio: 1.3, status_ratio: 2 },
  forms: results,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/noop.json'), JSON.stringify(out, null, 2) + '\n');
rmSync(elsewhere, { recursive: true, force: true });
if (!reuse && !process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
