#!/usr/bin/env node
// bench/build: a synthetic release (BENCH_MODELS models × 3 quantizations × the seed's 8 targets,
// plus one model with BENCH_BIG_MB of weights), built with the mlc_llm test double. Measures, each
// against a peer in the same run:
//   - no-op build wall time vs `node -e 0` and vs ninja on an equivalent build.ninja (targets ≤ 3×)
//   - first hashing throughput vs `sha256sum` on the same weight files (target ≥ 1.0×)
//   - restoring the big model's converted weights folder vs `cp -r` of it (target ≤ 1 %)
// Figures go to stdout and bench/results/build.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONV, PRESETS } from './models.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const DOUBLE = join(root, 'test/double/mlc_llm.mjs');
const MODELS = Number(process.env.BENCH_MODELS ?? 40);
const MODEL_MB = Number(process.env.BENCH_MODEL_MB ?? 50);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 2048);
const RUNS = 5;

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-'));
const env = { ...process.env, MLC_BUILD_MLC_LLM: DOUBLE, MLC_BUILD_ALL_HOSTS: '1', MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src') };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return ms(t0);
};
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
    const fd = [];
    for (let off = 0; off < size; off += chunk.length) fd.push(chunk.subarray(0, Math.min(chunk.length, size - off)));
    writeFileSync(join(d, file), Buffer.concat(fd));
    map[`layer.${i}`] = file;
  }
  writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
}

log(`bench/build in ${dir}: ${MODELS} models × ${MODEL_MB} MB + one of ${BIG_MB} MB, 3 quantizations, 8 targets, ${cpus().length} CPUs`);
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

const build = (args = []) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`mlc-build ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  return r;
};

const firstMs = time(() => build());
const nodes = JSON.parse(build(['graph', '--format', 'json']).stdout).nodes;
log(`first build: ${(firstMs / 1000).toFixed(1)} s for ${nodes.length} steps`);

// No-op build against node -e 0 and ninja (same nodes and edges, every output a stamp).
const noop = [];
for (let i = 0; i < RUNS; i++) noop.push(time(() => build()));
const nodeStart = [];
for (let i = 0; i < RUNS; i++) nodeStart.push(time(() => execFileSync(process.execPath, ['-e', '0'])));
const ninjaDir = join(dir, 'ninja');
mkdirSync(ninjaDir);
const esc = (s) => s.replace(/[:$ ]/g, (c) => `$${c}`);
const stamp = (id) => esc(`stamps/${id.replace(/[/:]/g, '_')}`);
writeFileSync(
  join(ninjaDir, 'build.ninja'),
  ['rule step', '  command = mkdir -p stamps && touch $out', '']
    .concat(nodes.map((n) => `build ${stamp(n.id)}: step${n.deps.length ? ' ' + n.deps.map(stamp).join(' ') : ''}`))
    .join('\n') + '\n',
);
let ninjaNoop = null;
if (spawnSync('ninja', ['--version']).status === 0) {
  execFileSync('ninja', ['-C', ninjaDir], { stdio: 'ignore' });
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(time(() => execFileSync('ninja', ['-C', ninjaDir], { stdio: 'ignore' })));
  ninjaNoop = median(runs);
}
const noopMs = median(noop);
const nodeMs = median(nodeStart);
log(
  `no-op build: ${noopMs.toFixed(0)} ms; node -e 0: ${nodeMs.toFixed(0)} ms (×${(noopMs / nodeMs).toFixed(2)}); ninja no-op: ${ninjaNoop?.toFixed(0) ?? 'n/a'} ms (×${ninjaNoop ? (noopMs / ninjaNoop).toFixed(1) : 'n/a'})`,
);

// First hashing: our hasher on every source weight file vs sha256sum on the same files (both warm).
const weightFiles = readdirSync(join(dir, 'hf')).flatMap((m) =>
  readdirSync(join(dir, 'hf', m))
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, 'hf', m, f)),
);
const bytes = weightFiles.reduce((n, f) => n + statSync(f).size, 0);
execFileSync('sha256sum', weightFiles, { maxBuffer: 1 << 26 });
const shaMs = time(() => execFileSync('sha256sum', weightFiles, { maxBuffer: 1 << 26 }));
const hashScript = `import { hashFile } from ${JSON.stringify(join(root, 'lib/store/hash.js'))};
const files = JSON.parse(process.argv[1]); const t0 = performance.now();
for (const f of files) await hashFile(f);
process.stdout.write(String(performance.now() - t0));`;
const oursMs = Number(execFileSync(process.execPath, ['--input-type=module', '-e', hashScript, JSON.stringify(weightFiles)]).toString());
const mbs = (t) => bytes / 1024 / 1024 / (t / 1000);
log(
  `hashing ${(bytes / 2 ** 30).toFixed(2)} GiB: mlc-build ${mbs(oursMs).toFixed(0)} MB/s, sha256sum ${mbs(shaMs).toFixed(0)} MB/s (×${(shaMs / oursMs).toFixed(2)})`,
);

// Restore of the big model's converted weights folder vs cp -r of it.
const bigFolder = join(dir, 'dist/Big-7B-q0f16-MLC');
const folderBytes = readdirSync(bigFolder).reduce((n, f) => n + statSync(join(bigFolder, f)).size, 0);
const cpMs = median(
  [0, 1, 2].map(() => {
    rmSync(join(dir, 'copy'), { recursive: true, force: true });
    return time(() => execFileSync('cp', ['-r', bigFolder, join(dir, 'copy')]));
  }),
);
rmSync(join(dir, 'copy'), { recursive: true, force: true });
// In-process: what the store does to restore the folder (place every blob of the record).
const restoreScript = `import { place } from ${JSON.stringify(join(root, 'lib/store/materialize.js'))};
import { readFileSync } from 'node:fs';
const { blobs, dest } = JSON.parse(process.argv[1]); const t0 = performance.now();
for (const [name, blob] of Object.entries(blobs)) await place(blob, dest + '/' + name);
process.stdout.write(String(performance.now() - t0));`;
const state = JSON.parse(readFileSync(join(dir, '.mlc-build/projects', readdirSync(join(dir, '.mlc-build/projects'))[0]), 'utf8'));
const blobs = Object.fromEntries(
  Object.entries(state.placed)
    .filter(([p]) => p.startsWith(bigFolder + '/'))
    .map(([p, v]) => [p.slice(bigFolder.length + 1), join(dir, '.mlc-build/cas', v.digest.slice(0, 2), v.digest)]),
);
const placeMs = Number(
  execFileSync(process.execPath, ['--input-type=module', '-e', restoreScript, JSON.stringify({ blobs, dest: join(dir, 'restored') })]).toString(),
);
rmSync(bigFolder, { recursive: true });
const cliRestore = [];
for (let i = 0; i < 3; i++) {
  rmSync(bigFolder, { recursive: true, force: true });
  cliRestore.push(time(() => build(['model=Big-7B', 'quant=q0f16', 'step=convert'])));
}
const cliMs = median(cliRestore);
log(
  `restore ${(folderBytes / 2 ** 30).toFixed(2)} GiB folder (${Object.keys(blobs).length} files): store ${placeMs.toFixed(1)} ms, cp -r ${cpMs.toFixed(0)} ms (${((placeMs / cpMs) * 100).toFixed(2)} %); whole mlc-build run ${cliMs.toFixed(0)} ms (${((cliMs / cpMs) * 100).toFixed(1)} %)`,
);

const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  project: { models: MODELS + 1, model_mb: MODEL_MB, big_mb: BIG_MB, steps: nodes.length },
  first_build_s: Number((firstMs / 1000).toFixed(1)),
  noop: {
    build_ms: Math.round(noopMs),
    node_e_0_ms: Math.round(nodeMs),
    ratio_to_node: Number((noopMs / nodeMs).toFixed(2)),
    ninja_ms: ninjaNoop && Math.round(ninjaNoop),
    ratio_to_ninja: ninjaNoop && Number((noopMs / ninjaNoop).toFixed(1)),
  },
  hashing: {
    gib: Number((bytes / 2 ** 30).toFixed(2)),
    ours_mb_s: Math.round(mbs(oursMs)),
    sha256sum_mb_s: Math.round(mbs(shaMs)),
    ratio: Number((shaMs / oursMs).toFixed(2)),
  },
  restore: {
    gib: Number((folderBytes / 2 ** 30).toFixed(2)),
    files: Object.keys(blobs).length,
    store_ms: Number(placeMs.toFixed(1)),
    cp_r_ms: Math.round(cpMs),
    store_percent_of_cp: Number(((placeMs / cpMs) * 100).toFixed(2)),
    cli_ms: Math.round(cliMs),
    cli_percent_of_cp: Number(((cliMs / cpMs) * 100).toFixed(1)),
  },
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/build.json'), JSON.stringify(results, null, 2) + '\n');
if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
