// The remote cache end to end: the real CLI, the mlc_llm double, and a real nginx with WebDAV PUT
// as the Bazel HTTP cache. Assertions are on what users see (calls made, files, exit codes,
// messages) and on the server's access log (which requests were made).
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheServer } from '../helpers/cache-server.js';
import { NGINX, Nginx } from '../helpers/nginx.js';
import { count, Project } from '../helpers/project.js';
import { lacks } from '../helpers/tools.js';

const MANIFEST = `version: 1
models:
  Llama-2-7b: { source: ./hf/llama, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [cuda, webgpu]
`;
const MODELS = { llama: { preset: 'llama2_7b', weights: 'bin' as const } };

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) out.push(...(await listTree(join(dir, e.name), `${prefix}${e.name}/`)));
    else out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await listTree(dir))
    out[f] = createHash('sha256')
      .update(await readFile(join(dir, f)))
      .digest('hex');
  return out;
}

const warningsOf = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning:'));

const events = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(lacks('nginx', NGINX !== undefined))('remote cache (nginx with WebDAV)', () => {
  let server: Nginx;
  let a: Project;
  let built: Record<string, string>;

  beforeAll(async () => {
    server = await Nginx.start();
    a = await Project.create(MANIFEST, MODELS);
    const r = await a.run(['--remote-cache', server.url]);
    expect(r.stderr).not.toContain('warning');
    expect(r.code).toBe(0);
    built = await digests(a.path('dist'));
  });
  afterAll(async () => {
    await (server as Nginx | undefined)?.stop(); // undefined if it never started
  });

  it('uploads every result: blobs before the action results that name them', async () => {
    const reqs = await server.requests();
    const puts = reqs.filter((q) => q.method === 'PUT');
    const acs = puts.filter((q) => q.uri.includes('/ac/'));
    expect(acs.length).toBe(4); // convert, config (shared by both targets), compile cuda, compile webgpu
    for (const q of puts) expect(q.status).toBeLessThan(300);
    // Each action result is put after every blob it names was put (or found there by HEAD).
    for (const [i, q] of reqs.entries()) {
      if (q.method !== 'PUT' || !q.uri.includes('/ac/')) continue;
      const result = JSON.parse(await readFile(join(server.dir, 'root', q.uri), 'utf8')) as { output_files: { digest: { hash: string } }[] };
      for (const f of result.output_files) {
        const before = reqs
          .slice(0, i)
          .some((b) => b.uri.endsWith(`/cas/${f.digest.hash}`) && (b.method === 'PUT' || (b.method === 'HEAD' && b.status === 200)));
        expect(before, `${f.digest.hash} before ${q.uri}`).toBe(true);
      }
    }
    const body = JSON.parse(await readFile(join(server.dir, 'root', (acs[0] as { uri: string }).uri), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['exit_code', 'output_files', 'stdout_digest']);
  });

  it('a fresh folder with an empty store gets every file from the remote with zero mlc_llm calls', async () => {
    const b = await Project.create(MANIFEST, MODELS);
    // Before building, status says which missing results the remote has, and a look uploads nothing.
    await server.clearLog();
    const look = await b.run(['status'], { MLC_BUILD_REMOTE_CACHE: server.url });
    expect(look.code).toBe(0);
    expect(look.stdout).toContain(`in the remote cache (${server.url.replace(/^http:\/\//, '').replace(/\/.*$/, '')}); will be fetched`);
    expect((await server.requests()).filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    const r = await b.run(['--json'], { MLC_BUILD_REMOTE_CACHE: server.url });
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    expect(await digests(b.path('dist'))).toEqual(built);
    const finishes = events(r.stdout).filter((e) => e.event === 'finish' && e.kind !== 'download');
    expect(finishes.length).toBeGreaterThan(0);
    for (const f of finishes) expect([f.node, f.status, f.source]).toEqual([f.node, 'cached', 'remote']);
    const summary = events(r.stdout).find((e) => e.event === 'summary') as { remote: { hits: number; fetched_bytes: number } };
    expect(summary.remote.hits).toBe(finishes.length);
    expect(summary.remote.fetched_bytes).toBeGreaterThan(0);
    // A second build there is a no-op: nothing fetched, nothing asked of the remote.
    await server.clearLog();
    const again = await b.run([], { MLC_BUILD_REMOTE_CACHE: server.url });
    expect(again.code).toBe(0);
    expect(await server.requests()).toEqual([]);
  });

  it('a release in a fresh folder assembles from the remote, with the memory figures its compiles printed elsewhere', async () => {
    type Inventory = { libraries: { cell: string; sha256: string; memory: { estimated: string[]; vram_required_mb: number } }[] };
    expect((await a.run(['release'])).code).toBe(0);
    const local = JSON.parse(await readFile(a.path('release/release.json'), 'utf8')) as Inventory;
    const e = await Project.create(MANIFEST, MODELS);
    const r = await e.run(['release'], { MLC_BUILD_REMOTE_CACHE: server.url });
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    const remote = JSON.parse(await readFile(e.path('release/release.json'), 'utf8')) as Inventory;
    expect(remote.libraries.map((l) => l.memory.estimated)).toEqual([[], []]);
    expect(remote.libraries).toEqual(local.libraries);
  });

  it('a compile-only build fetches no converted-weight blob', async () => {
    const weights = new Set<string>();
    const folder = (await readdir(a.path('dist'))).find((d) => d.endsWith('-MLC')) as string;
    for (const f of await readdir(a.path('dist', folder)))
      if (f.startsWith('params_shard_'))
        weights.add(
          createHash('sha256')
            .update(await readFile(a.path('dist', folder, f)))
            .digest('hex'),
        );
    expect(weights.size).toBeGreaterThan(0);
    await server.clearLog();
    const c = await Project.create(MANIFEST, MODELS);
    const r = await c.run(['step=compile', '--remote-cache', server.url]);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    const libs = (await listTree(c.path('dist'))).filter((f) => /\.(so|wasm)$/.test(f));
    expect(libs.length).toBe(2);
    const gets = (await server.requests()).filter((q) => q.method === 'GET' && q.uri.includes('/cas/'));
    expect(gets.length).toBeGreaterThan(0);
    for (const g of gets) expect(weights.has(g.uri.split('/').pop() as string)).toBe(false);
  });

  it('a read-only build fetches what the remote has and uploads nothing', async () => {
    await server.clearLog();
    const d = await Project.create(MANIFEST.replace('targets: [cuda, webgpu]', 'targets: [cuda, webgpu, vulkan]'), MODELS);
    const r = await d.run(['--remote-cache', server.url, '--remote-cache-read-only']);
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.sub)).toEqual(['compile']); // only vulkan's library is new
    expect((await server.requests()).filter((q) => q.method === 'PUT')).toEqual([]);
    // The same from the manifest.
    const e = await Project.create(
      MANIFEST.replace('targets: [cuda, webgpu]', 'targets: [cuda, metal]') + `remote_cache: { url: "${server.url}", read_only: true }\n`,
      MODELS,
    );
    expect((await e.run()).code).toBe(0);
    expect((await server.requests()).filter((q) => q.method === 'PUT')).toEqual([]);
  });

  it('credentials in the header and the URL reach the server but no output, log, store file or step', async () => {
    const token = 'tok3n-Secret-9f8e7d';
    const password = 'pa55-Word-1a2b3c';
    const f = await Project.create(MANIFEST.replace('q4f16_1', 'q0f16'), MODELS);
    const dump = f.path('env.ndjson');
    const url = server.url.replace('http://', `http://builder:${password}@`);
    const r = await f.run(['--json', '--remote-cache', url], {
      MLC_BUILD_REMOTE_HEADER: `Authorization: Bearer ${token}`,
      MLC_BUILD_REMOTE_SIGNING_KEY: 'signing-Key-77aa',
      MLC_DOUBLE_ENV_DUMP: dump,
    });
    expect(r.code).toBe(0);
    expect(count(r.calls, 'compile')).toBe(2);
    const texts = [r.stdout, r.stderr, await readFile(dump, 'utf8')];
    for (const file of await listTree(f.dir)) {
      if ((await stat(f.path(file))).size < 1 << 20) texts.push(await readFile(f.path(file), 'latin1'));
    }
    const basic = Buffer.from(`builder:${password}`).toString('base64');
    for (const t of texts) for (const secret of [token, password, basic, 'signing-Key-77aa']) expect(t).not.toContain(secret);
    expect(await readFile(dump, 'utf8')).not.toContain('MLC_BUILD_REMOTE');
  });

  it('a server that stops mid-build: one warning naming it, the build finishes locally', async () => {
    const g = await Project.create(MANIFEST.replace('q4f16_1', 'q3f16_1'), MODELS);
    const starts = g.path('starts.ndjson');
    const running = g.run(['--remote-cache', server.url], { MLC_DOUBLE_STARTS: starts, MLC_DOUBLE_SLEEP_MS: 'convert_weight=1500' });
    for (let i = 0; i < 200 && (await readFile(starts, 'utf8').catch(() => '')) === ''; i++) await new Promise((res) => setTimeout(res, 25));
    await server.stop();
    const r = await running;
    await server.resume();
    expect(r.code).toBe(0);
    expect(count(r.calls, 'compile')).toBe(2);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain(`127.0.0.1:${server.port}`);
    expect(r.stderr).toMatch(/remote cache 127\.0\.0\.1:\d+: .*upload/);
  });

  it('a remote that forgets is refilled: status --json names what it lacks, build --verify sends it again, a fresh folder builds with 0 calls', async () => {
    await server.wipe();
    await server.clearLog();
    const remoteEnv = { MLC_BUILD_REMOTE_CACHE: server.url };
    type Row = { path: string; state: string; nodes: string[]; remote_lacks?: string[] | null };
    const lacking = async () => (JSON.parse((await a.run(['status', '--json'], remoteEnv)).stdout) as Row[]).flatMap((r) => r.remote_lacks ?? ['(not asked)']);
    const lacked = await lacking();
    expect(new Set(lacked)).toEqual(
      new Set(['convert:Llama-2-7b/q4f16_1', 'config:Llama-2-7b/q4f16_1/base', 'compile:Llama-2-7b/q4f16_1/cuda', 'compile:Llama-2-7b/q4f16_1/webgpu']),
    );
    expect((await server.requests()).filter((q) => q.method === 'PUT')).toEqual([]); // a look uploads nothing
    // Without --verify, the memo says the remote holds them (seen less than a day ago): nothing asked.
    await server.clearLog();
    expect((await a.run([], remoteEnv)).code).toBe(0);
    expect(await server.requests()).toEqual([]);
    const r = await a.run(['--verify', '--json'], remoteEnv);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    expect(warningsOf(r.stderr)).toEqual([]);
    const acs = (await server.requests()).filter((q) => q.method === 'PUT' && q.uri.includes('/ac/'));
    expect(acs.length).toBe(4);
    const summary = events(r.stdout).find((e) => e.event === 'summary') as { remote: { uploads: number } };
    expect(summary.remote.uploads).toBe(4);
    expect(await lacking()).toEqual([]);
    const fresh = await Project.create(MANIFEST, MODELS);
    const again = await fresh.run([], remoteEnv);
    expect(again.code).toBe(0);
    expect(again.calls).toEqual([]);
    expect(await digests(fresh.path('dist'))).toEqual(built);
  });

  it('a result remembered longer than recheck_after is checked again by a plain build, and sent again', async () => {
    const manifest = MANIFEST.replace('q4f16_1', 'q4f32_1') + `remote_cache: { url: "${server.url}", recheck_after: 2s }\n`;
    const h = await Project.create(manifest, MODELS);
    expect((await h.run()).code).toBe(0);
    await server.clearLog();
    expect((await h.run()).code).toBe(0); // within the age: a no-op asks nothing
    expect(await server.requests()).toEqual([]);
    await server.wipe();
    await new Promise((res) => setTimeout(res, 2100));
    const r = await h.run();
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    const reqs = await server.requests();
    expect(reqs.filter((q) => q.method === 'GET' && q.uri.includes('/ac/')).length).toBe(4);
    expect(reqs.filter((q) => q.method === 'PUT' && q.uri.includes('/ac/')).length).toBe(4);
  });

  it('doctor says whether the remote answers and accepts writes', async () => {
    const r = await a.run(['doctor', '--remote-cache', server.url]);
    expect(r.stdout).toMatch(new RegExp(`remote cache\\n  ✓ 127\\.0\\.0\\.1:${server.port}: answers\\n  ✓ uploads: accepts writes`));
    const ro = await a.run(['doctor', '--remote-cache', server.url, '--remote-cache-read-only']);
    expect(ro.stdout).toContain('uploads: read-only');
    const down = await a.run(['doctor', '--remote-cache', 'http://127.0.0.1:9/cache']);
    expect(down.stdout).toMatch(/✗ 127\.0\.0\.1:9: does not answer: .*ECONNREFUSED/);
    expect(down.code).not.toBe(0);
  });
});

describe('a remote cache that hangs', () => {
  const listeners: { close: () => Promise<void> }[] = [];
  afterAll(async () => {
    for (const l of listeners) await l.close();
  });

  /** A listener on 127.0.0.1 that accepts connections and never answers. */
  async function blackHole(): Promise<string> {
    const sockets: Socket[] = [];
    const hole = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    listeners.push({
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => hole.close(r));
      },
    });
    return `http://127.0.0.1:${(hole.address() as { port: number }).port}/cache`;
  }

  const TIMEOUT_MS = 1000;
  const timeouts = `connect_timeout_ms: ${TIMEOUT_MS}, first_byte_timeout_ms: ${TIMEOUT_MS}, idle_timeout_ms: ${TIMEOUT_MS}`;

  it('a black-holed server adds one round of timeouts, reads and writes together: one warning, exit 0', async () => {
    const url = await blackHole();
    const p = await Project.create(MANIFEST + `remote_cache: { url: "${url}", ${timeouts} }\n`, MODELS);
    const t0 = Date.now();
    const local = await p.run(['--no-remote-cache']);
    const alone = Date.now() - t0;
    expect(local.code).toBe(0);
    const q = await Project.create(MANIFEST + `remote_cache: { url: "${url}", ${timeouts} }\n`, MODELS);
    const t1 = Date.now();
    const r = await q.run();
    const withHole = Date.now() - t1;
    expect(r.code).toBe(0);
    expect(count(r.calls, 'compile')).toBe(2);
    const warnings = warningsOf(r.stderr);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/127\.0\.0\.1:\d+\): GET \/ac\/[0-9a-f]+… failed \(first-byte timeout\): no data for 1s .*not asked again in this build/);
    // One round is one first-byte timeout; before, each dependency level and each queue's worth of uploads waited one.
    expect(withHole - alone).toBeLessThan(3 * TIMEOUT_MS + 1500);
  });

  it('a server that sends the headers then stalls mid-body: the fetch gives up on the idle timeout, the step runs here, no partial blob', async () => {
    const cache = new CacheServer();
    const url = await cache.start();
    listeners.push({ close: () => cache.stop() });
    const manifest = MANIFEST + `remote_cache: { url: "${url}", ${timeouts} }\n`;
    const first = await Project.create(manifest, MODELS);
    expect((await first.run()).code).toBe(0);
    expect(cache.entries.size).toBeGreaterThan(0);
    cache.faults.stall = true;
    const p = await Project.create(manifest, MODELS);
    const t = Date.now();
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(Date.now() - t).toBeLessThan(3 * TIMEOUT_MS + 5000);
    expect(count(r.calls, 'convert_weight')).toBe(1); // its weights stalled: converted here
    const warnings = warningsOf(r.stderr);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/GET \/cas\/[0-9a-f]+… failed \(idle timeout\): no data for 1s in the middle of the response/);
    expect(await listTree(p.path('.mlc-build', 'tmp'))).toEqual([]);
    expect(await digests(p.path('dist'))).toEqual(await digests(first.path('dist')));
  });
});
