#!/usr/bin/env node
// bench/hash: hashing at the core's speed. One file of BENCH_HASH_MB MiB (2048) and BENCH_SHARDS
// (4) shards of BENCH_SHARD_MB MiB (512), random bytes, read once before timing (so every figure
// is from the page cache, as the peer's is). Each row against its peer in the same run, alternating
// which goes first, medians of BENCH_RUNS (5):
//   - `mlc-build plan` with an empty store, on a local model whose weights are the one file, vs
//     `openssl dgst -sha256` on it (target: openssl's time / ours ≥ 0.9)
//   - the same on a model whose weights are the shards, vs openssl on the shards
//   - in one process, the shards hashed one after another vs all at once (the worker threads;
//     target ≥ 1.6× on 2 cores)
// With BENCH_BASE=DIR, another (built) checkout's plan is timed in the same runs (before and after).
// Figures go to stdout and bench/results/hash.json. The digests are checked against openssl's.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'bin/mlc-build.js');
const MiB = 1024 * 1024;
const BIG_MB = Number(process.env.BENCH_HASH_MB ?? 2048);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 4);
const SHARD_MB = Number(process.env.BENCH_SHARD_MB ?? 512);
const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const BASE = process.env.BENCH_BASE; // another checkout (built), its plan timed in the same runs: before and after

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-hash-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((l) => Number(l.toFixed(2)));
const log = (s) => console.log(s);

function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  return { ms, stdout: r.stdout };
}

/** A file of random bytes (a 64 MiB pattern repeated: sha256 has no shortcut for repeats). */
function writeRandom(path, mb) {
  const chunk = randomBytes(64 * MiB);
  const fd = openSync(path, 'w');
  for (let left = mb * MiB; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
  closeSync(fd);
}

/** A project whose one model is a local folder with these weight files. */
function project(name, weights) {
  const p = join(dir, name);
  const model = join(p, 'hf/m');
  mkdirSync(model, { recursive: true });
  copyFileSync(join(root, 'test/fixtures/hf-configs/llama2_7b.json'), join(model, 'config.json'));
  writeFileSync(join(model, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' } }));
  const names = weights.map((_, i) =>
    weights.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(weights.length).padStart(5, '0')}.safetensors`,
  );
  weights.forEach((w, i) => execFileSync('ln', [w, join(model, names[i])])); // hardlinks: the same bytes, in the page cache
  if (weights.length > 1)
    writeFileSync(join(model, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [`layer.${i}`, n])) }));
  writeFileSync(join(p, 'mlc.build.yaml'), 'version: 1\nmodels:\n  M: { source: ./hf/m, conv_template: llama-2 }\nquantizations: [q4f16_1]\ntargets: [cuda]\n');
  return { dir: p, files: names.map((n) => join(model, n)) };
}

const env = {
  ...process.env,
  MLC_BUILD_MLC_LLM: join(root, 'test/double/mlc_llm.mjs'),
  MLC_BUILD_ALL_HOSTS: '1',
  XDG_CACHE_HOME: join(dir, 'xdg'),
};

/** `mlc-build plan` with an empty store: it hashes every source file. */
function planEmpty(p, bin = BIN) {
  rmSync(join(p.dir, '.mlc-build'), { recursive: true, force: true });
  const { ms } = timed(process.execPath, [bin, 'plan'], { cwd: p.dir, env });
  return ms;
}

function openssl(files) {
  return timed('openssl', ['dgst', '-sha256', ...files]);
}

/** Each run times every contender once, the order rotating from run to run; medians and runs by name. */
function rounds(contenders) {
  const times = new Map(Object.keys(contenders).map((name) => [name, []]));
  const names = Object.keys(contenders);
  for (let i = 0; i < RUNS; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      times.get(name).push(contenders[name]());
    }
  }
  return Object.fromEntries([...times].map(([name, ts]) => [name, { ms: Math.round(median(ts)), runs: ts.map(Math.round) }]));
}

/** Ours, openssl's, and (with BENCH_BASE) the other checkout's plan. */
function planRounds(p) {
  return rounds({
    ours: () => planEmpty(p),
    openssl: () => openssl(p.files).ms,
    ...(BASE ? { base: () => planEmpty(p, join(BASE, 'bin/mlc-build.js')) } : {}),
  });
}

/** Our digests (from the stat cache a plan keeps) are openssl's. */
function checkDigests(p) {
  const cache = JSON.parse(readFileSync(join(p.dir, '.mlc-build/stat-cache.json'), 'utf8'));
  const theirs = Object.fromEntries([...openssl(p.files).stdout.matchAll(/^SHA2?-?256\((.+)\)= ([0-9a-f]{64})$/gm)].map((m) => [m[1], m[2]]));
  for (const f of p.files) if (cache[f]?.digest !== theirs[f]) throw new Error(`digest of ${f}: ours ${cache[f]?.digest}, openssl ${theirs[f]}`);
}

log(`bench/hash in ${dir}: one ${BIG_MB} MiB file, ${SHARDS} × ${SHARD_MB} MiB shards; ${availableParallelism()} CPUs; load ${load().join(' ')}`);
const loadBefore = load();
writeRandom(join(dir, 'big.bin'), BIG_MB);
const shardFiles = Array.from({ length: SHARDS }, (_, i) => join(dir, `shard${i}.bin`));
for (const f of shardFiles) writeRandom(f, SHARD_MB);
const single = project('single', [join(dir, 'big.bin')]);
const sharded = project('sharded', shardFiles);
openssl([...single.files, ...sharded.files]); // into the page cache

planEmpty(single);
checkDigests(single);
planEmpty(sharded);
checkDigests(sharded);

const one = planRounds(single);
const ratio = (r) => Number((r.openssl.ms / r.ours.ms).toFixed(2));
const baseText = (r) => (r.base ? `; ${BASE}: ${r.base.ms} ms (×${(r.openssl.ms / r.base.ms).toFixed(2)})` : '');
log(
  `plan, empty store, one ${BIG_MB} MiB file: mlc-build ${one.ours.ms} ms, openssl dgst ${one.openssl.ms} ms (×${ratio(one)} of openssl's speed)${baseText(one)}`,
);
const shards = planRounds(sharded);
log(
  `plan, empty store, ${SHARDS} × ${SHARD_MB} MiB: mlc-build ${shards.ours.ms} ms, openssl dgst ${shards.openssl.ms} ms (×${ratio(shards)})${baseText(shards)}`,
);

// In one process: the same shards one after another, then all at once (alternating which first).
const inProcess = `import { hashFile } from ${JSON.stringify(join(root, 'lib/store/hash.js'))};
const files = JSON.parse(process.argv[1]);
const serial = async () => { const t = performance.now(); for (const f of files) await hashFile(f); return performance.now() - t; };
const parallel = async () => { const t = performance.now(); await Promise.all(files.map((f) => hashFile(f))); return performance.now() - t; };
await parallel(); // the threads started
const out = { serial: [], parallel: [] };
for (let i = 0; i < ${RUNS}; i++) {
  if (i % 2 === 0) { out.serial.push(await serial()); out.parallel.push(await parallel()); }
  else { out.parallel.push(await parallel()); out.serial.push(await serial()); }
}
process.stdout.write(JSON.stringify(out));`;
const runs = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', inProcess, JSON.stringify(shardFiles)]).toString());
const serialMs = median(runs.serial);
const parallelMs = median(runs.parallel);
log(
  `${SHARDS} × ${SHARD_MB} MiB in one process: one after another ${Math.round(serialMs)} ms, in parallel ${Math.round(parallelMs)} ms (×${(serialMs / parallelMs).toFixed(2)})`,
);
const loadAfter = load();
log(`load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);

const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  load: { before: loadBefore, after: loadAfter },
  runs: RUNS,
  single_file: { mib: BIG_MB, plan_ms: one.ours.ms, openssl_ms: one.openssl.ms, ratio_to_openssl: ratio(one), runs: one },
  shards_plan: { shards: SHARDS, mib_each: SHARD_MB, plan_ms: shards.ours.ms, openssl_ms: shards.openssl.ms, ratio_to_openssl: ratio(shards), runs: shards },
  shards_in_process: {
    serial_ms: Math.round(serialMs),
    parallel_ms: Math.round(parallelMs),
    speedup: Number((serialMs / parallelMs).toFixed(2)),
    serial_runs: runs.serial.map(Math.round),
    parallel_runs: runs.parallel.map(Math.round),
  },
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/hash.json'), JSON.stringify(results, null, 2) + '\n');
if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
