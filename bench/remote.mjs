#!/usr/bin/env node
// bench/remote: the remote cache against a real nginx with WebDAV PUT on loopback. Measures, each
// against a peer in the same run:
//   1. fetching one multi-GB result (BENCH_REMOTE_BLOBS blobs of BENCH_REMOTE_MB, like converted
//      shards) into a fresh local store, hashed while written, against `curl` fetching the same
//      blobs to files with the same parallelism (target ≥ 0.9× curl's throughput);
//   2. uploading that result to an empty server against `curl -T` (target ≥ 0.8×);
//   3. finding a fully cached ~1,000-step release remote-only: `mlc-build status` and a full build
//      in a fresh folder with an empty local store, with the number of requests each made (nginx's
//      access log) and the mlc_llm calls (zero).
// Medians of BENCH_REMOTE_RUNS runs, the two tools alternating first. Figures go to stdout and
// bench/results/remote.json.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONV, PRESETS } from './models.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { Store } = await import(join(root, 'lib/store/store.js'));
const { LayeredCache } = await import(join(root, 'lib/store/cache.js'));
const { RemoteCache } = await import(join(root, 'lib/store/remote/remote-cache.js'));
const { remoteSettings } = await import(join(root, 'lib/store/remote/settings.js'));

const BIN = join(root, 'bin/mlc-build.js');
const DOUBLE = join(root, 'test/double/mlc_llm.mjs');
const BLOBS = Number(process.env.BENCH_REMOTE_BLOBS ?? 30);
const BLOB_MB = Number(process.env.BENCH_REMOTE_MB ?? 70);
const RUNS = Number(process.env.BENCH_REMOTE_RUNS ?? 3);
const PARALLEL = 4; // the net pool's default size; curl gets the same
const MODELS = Number(process.env.BENCH_REMOTE_MODELS ?? 29); // × 3 quantizations × 8 targets ≈ 1,000 steps
const TARGETS = ['cuda', 'metal', 'metal-x86_64', 'vulkan', 'vulkan-windows', 'webgpu', 'iphone', 'android'];

const NGINX = ['/usr/sbin/nginx', 'nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0);
if (!NGINX) throw new Error('bench/remote needs nginx (apt-get install -y nginx)');
if (spawnSync('curl', ['--version']).status !== 0) throw new Error('bench/remote needs curl');

const base = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'mlc-build-bench-remote-'));
const log = (s) => console.log(s);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

// --- nginx ---------------------------------------------------------------------------------------
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const ndir = join(base, 'nginx');
mkdirSync(join(ndir, 'root/cache'), { recursive: true });
mkdirSync(join(ndir, 'tmp'), { recursive: true });
const port = await freePort();
writeFileSync(
  join(ndir, 'nginx.conf'),
  `${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes 2;
pid ${ndir}/nginx.pid;
error_log ${ndir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format cache '$request_method $uri $status';
  access_log ${ndir}/access.log cache;
  client_body_temp_path ${ndir}/tmp/body;
  proxy_temp_path ${ndir}/tmp/proxy;
  fastcgi_temp_path ${ndir}/tmp/fastcgi;
  uwsgi_temp_path ${ndir}/tmp/uwsgi;
  scgi_temp_path ${ndir}/tmp/scgi;
  sendfile on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    root ${ndir}/root;
    location /cache/ { dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
`,
);
const nginx = spawn(NGINX, ['-p', ndir, '-c', join(ndir, 'nginx.conf')], { stdio: 'ignore' });
process.on('exit', () => nginx.kill('SIGTERM'));
const url = `http://127.0.0.1:${port}/cache`;
for (let i = 0; ; i++) {
  if (
    await fetch(`${url}/`).then(
      () => true,
      () => false,
    )
  )
    break;
  if (i > 100) throw new Error(`nginx did not start: ${readFileSync(join(ndir, 'error.log'), 'utf8')}`);
  await new Promise((r) => setTimeout(r, 50));
}
const requests = () =>
  readFileSync(join(ndir, 'access.log'), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
const clearLog = () => writeFileSync(join(ndir, 'access.log'), '');
const wipeServer = () => {
  rmSync(join(ndir, 'root/cache'), { recursive: true, force: true });
  mkdirSync(join(ndir, 'root/cache'), { recursive: true });
};

// --- 1 and 2: one big result -----------------------------------------------------------------------
log(`bench/remote in ${base}: nginx on ${url}, ${BLOBS} blobs × ${BLOB_MB} MB, ${PARALLEL} transfers at once, ${cpus().length} CPUs`);
const blobsDir = join(base, 'blobs');
mkdirSync(blobsDir);
const outputs = {};
const names = [];
for (let i = 0; i < BLOBS; i++) {
  const bytes = randomBytes(BLOB_MB * 1024 * 1024);
  const digest = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(blobsDir, digest), bytes);
  outputs[`params_shard_${i}.bin`] = { digest, size: bytes.length };
  names.push(digest);
}
const totalBytes = BLOBS * BLOB_MB * 1024 * 1024;
const key = createHash('sha256').update('bench/remote').digest('hex');
const record = { key, node: 'convert:Bench-7B:q4f16_1', outputs, durationMs: 1, createdAt: new Date().toISOString() };
const settings = (() => {
  const r = remoteSettings(undefined, { remoteCache: url }, {});
  if (!r.ok || !r.value) throw new Error(`settings: ${r.ok ? 'none' : r.error}`);
  return r.value;
})();

// The source store: the blobs ingested once, as a build leaves them.
const source = await Store.open(join(base, 'store-source'));
for (const d of names) await source.ingestCopy(join(blobsDir, d)); // the files stay for curl
await source.putRecord(record, {});

const curl = (args) => {
  // xargs runs PARALLEL curls at once, like our transfer pool.
  const r = spawnSync('sh', ['-c', `ls ${blobsDir} | xargs -P${PARALLEL} -I{} sh -c 'curl -sSf ${args}'`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`curl failed: ${r.stderr}`);
};

async function uploadOurs() {
  const remote = new RemoteCache({ ...settings }, { concurrency: PARALLEL, storeRoot: join(base, 'store-source') });
  let warned;
  remote.warn = (m) => (warned = m);
  const t0 = process.hrtime.bigint();
  await remote.upload(record, {}, source);
  const s = seconds(t0);
  await remote.close();
  if (warned) throw new Error(`upload warned: ${warned}`);
  return s;
}
function uploadCurl() {
  mkdirSync(join(ndir, 'root/cache/cas'), { recursive: true });
  const t0 = process.hrtime.bigint();
  curl(`-o /dev/null -T ${blobsDir}/{} ${url}/cas/{}`);
  return seconds(t0);
}
async function fetchOurs() {
  const dir = join(base, 'store-fetch');
  rmSync(dir, { recursive: true, force: true });
  const store = await Store.open(dir);
  const remote = new RemoteCache({ ...settings, readOnly: true }, { concurrency: PARALLEL, storeRoot: dir });
  const cache = new LayeredCache(store, [remote]);
  const t0 = process.hrtime.bigint();
  const hit = await cache.lookup(key, { verify: false });
  if (!hit || hit.from !== 'remote') throw new Error('the result is not in the remote cache');
  const placed = await hit.restore();
  const s = seconds(t0);
  if (!placed.ok) throw new Error(`fetch failed: ${placed.error}`);
  await cache.flush();
  return s;
}
// The verified peer: curl, then the fastest hasher here over the file (we hash while writing).
const HASHER = spawnSync('openssl', ['version']).status === 0 ? 'openssl dgst -sha256' : 'sha256sum';
function fetchCurl(verify) {
  const dir = join(base, 'curl-fetch');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const t0 = process.hrtime.bigint();
  curl(`-o ${dir}/{} ${url}/cas/{}` + (verify ? ` && ${HASHER} ${dir}/{} >/dev/null` : ''));
  return seconds(t0);
}

const up = { ours: [], curl: [] };
for (let i = 0; i < RUNS; i++) {
  for (const tool of i % 2 === 0 ? ['ours', 'curl'] : ['curl', 'ours']) {
    wipeServer();
    up[tool].push(tool === 'ours' ? await uploadOurs() : uploadCurl());
  }
}
// Leave the server holding the result (ours, with its action result) for the fetches.
wipeServer();
await uploadOurs();
// What Node itself reaches here: node:http GETs written to files, no hashing, no store.
function fetchBareNode() {
  const dir = join(base, 'node-fetch');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const script = `
    import http from 'node:http'; import fs from 'node:fs'; import { pipeline } from 'node:stream/promises';
    const agent = new http.Agent({ keepAlive: true }); const names = ${JSON.stringify(names)}; let i = 0;
    const one = async () => { while (i < names.length) { const n = names[i++];
      const res = await new Promise((ok, no) => http.get('${url}/cas/' + n, { agent }, ok).on('error', no));
      await pipeline(res, fs.createWriteStream('${dir}/' + n)); } };
    await Promise.all(Array.from({ length: ${PARALLEL} }, one)); agent.destroy();`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const s = seconds(t0);
  if (r.status !== 0) throw new Error(`bare node fetch failed: ${r.stderr}`);
  return s;
}

const down = { ours: [], curl: [], verified: [], node: [] };
for (let i = 0; i < RUNS; i++) {
  for (const tool of i % 2 === 0 ? ['ours', 'curl', 'verified', 'node'] : ['node', 'verified', 'curl', 'ours'])
    down[tool].push(tool === 'ours' ? await fetchOurs() : tool === 'node' ? fetchBareNode() : fetchCurl(tool === 'verified'));
}
rmSync(join(base, 'store-fetch'), { recursive: true, force: true });
rmSync(join(base, 'curl-fetch'), { recursive: true, force: true });
rmSync(join(base, 'node-fetch'), { recursive: true, force: true });
const mbs = (s) => Math.round(totalBytes / 1024 / 1024 / s);
const fetchFig = { ours_mb_s: mbs(median(down.ours)), curl_mb_s: mbs(median(down.curl)) };
fetchFig.ratio = Number((fetchFig.ours_mb_s / fetchFig.curl_mb_s).toFixed(2));
fetchFig.verified_peer = `curl, then ${HASHER}`;
fetchFig.verified_peer_mb_s = mbs(median(down.verified));
fetchFig.ratio_to_verified = Number((fetchFig.ours_mb_s / fetchFig.verified_peer_mb_s).toFixed(2));
fetchFig.bare_node_mb_s = mbs(median(down.node));
const uploadFig = { ours_mb_s: mbs(median(up.ours)), curl_mb_s: mbs(median(up.curl)) };
uploadFig.ratio = Number((uploadFig.ours_mb_s / uploadFig.curl_mb_s).toFixed(2));
const gib = Number((totalBytes / 2 ** 30).toFixed(2));
log(`fetch ${gib} GiB into a fresh store: ${fetchFig.ours_mb_s} MB/s, curl ${fetchFig.curl_mb_s} MB/s: ${fetchFig.ratio}× curl (target ≥ 0.9×)`);
log(`  against curl then ${HASHER} (verified like ours): ${fetchFig.verified_peer_mb_s} MB/s: ${fetchFig.ratio_to_verified}×`);
log(`  bare node:http GETs to files (no hashing, no store) reach ${fetchFig.bare_node_mb_s} MB/s here`);
log(`upload ${gib} GiB to an empty server: ${uploadFig.ours_mb_s} MB/s, curl -T ${uploadFig.curl_mb_s} MB/s: ${uploadFig.ratio}× curl (target ≥ 0.8×)`);
rmSync(blobsDir, { recursive: true, force: true });
rmSync(join(base, 'store-source'), { recursive: true, force: true });
wipeServer();

// --- 3: a fully cached release, remote-only -------------------------------------------------------
function project(name) {
  const dir = join(base, name);
  mkdirSync(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
  writeFileSync(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode');
  const lines = ['version: 1', 'models:'];
  for (let i = 0; i < MODELS; i++) {
    const preset = PRESETS[i % PRESETS.length];
    const d = join(dir, 'hf', `m${i}`);
    mkdirSync(d, { recursive: true });
    copyFileSync(join(root, 'test/fixtures/hf-configs', `${preset}.json`), join(d, 'config.json'));
    writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' }, decoder: { type: 'ByteLevel' }, name: `m${i}` }));
    writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(64 * 1024, `m${i}`));
    lines.push(`  Model-${i}: { source: ./hf/m${i}, conv_template: ${CONV[preset]} }`);
  }
  lines.push('quantizations: [q4f16_1, q4f32_1, q0f16]', `targets: [${TARGETS.join(', ')}]`, `remote_cache: { url: "${url}" }`);
  writeFileSync(join(dir, 'mlc.build.yaml'), lines.join('\n') + '\n');
  const env = {
    ...process.env,
    MLC_BUILD_MLC_LLM: DOUBLE,
    MLC_BUILD_ALL_HOSTS: '1',
    MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
    MLC_DOUBLE_SHARD_CAP: '65536',
    MLC_DOUBLE_LOG: join(dir, 'calls.log'),
    XDG_CACHE_HOME: join(dir, '.xdg-cache'),
  };
  const run = (args = []) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`mlc-build ${args.join(' ')} in ${name} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
    if (r.stderr.includes('warning'))
      throw new Error(
        `mlc-build ${args.join(' ')} in ${name} warned:\n${r.stderr
          .split('\n')
          .filter((l) => l.includes('warning'))
          .slice(0, 10)
          .join('\n')}`,
      );
    return { ...r, s: seconds(t0) };
  };
  return { dir, run };
}

const a = project('release-a');
const first = a.run();
const steps = JSON.parse(a.run(['graph', '--format', 'json']).stdout).nodes.length;
log(`release: ${steps} steps, first build with uploads ${first.s.toFixed(1)} s`);

const find = [];
const full = [];
let findRequests = 0;
let fullRequests = 0;
let calls = 0;
for (let i = 0; i < RUNS; i++) {
  // A fresh folder: the same sources, an empty local store and no memory of the remote.
  const name = `release-b${i}`;
  mkdirSync(join(base, name));
  cpSync(join(a.dir, 'hf'), join(base, name, 'hf'), { recursive: true });
  const b = project(name);
  clearLog();
  find.push(b.run(['status']).s);
  findRequests = requests().length;
  clearLog();
  full.push(b.run().s);
  fullRequests = requests().length;
  calls += readdirSync(b.dir).includes('calls.log') ? readFileSync(join(b.dir, 'calls.log'), 'utf8').split('\n').filter(Boolean).length : 0;
  rmSync(b.dir, { recursive: true, force: true });
}
if (calls !== 0) throw new Error(`the fresh folders made ${calls} mlc_llm calls`);
const release = {
  steps,
  status_s: Number(median(find).toFixed(2)),
  status_requests: findRequests,
  build_s: Number(median(full).toFixed(2)),
  build_requests: fullRequests,
  mlc_llm_calls: calls,
};
log(`find a fully cached ${steps}-step release remote-only (fresh store): status ${release.status_s} s, ${findRequests} requests`);
log(`build it from the remote: ${release.build_s} s, ${fullRequests} requests, ${calls} mlc_llm calls`);

const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  nginx: spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim(),
  transfer: { blobs: BLOBS, blob_mb: BLOB_MB, gib, parallel: PARALLEL, runs: RUNS },
  fetch: fetchFig,
  upload: uploadFig,
  release,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/remote.json'), JSON.stringify(result, null, 2) + '\n');
nginx.kill('SIGTERM');
rmSync(base, { recursive: true, force: true });
