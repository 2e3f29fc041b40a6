// The remote cache against a small in-process server with faults: what is refused, what counts
// as a miss, what is resumed, and that the cache never fails (only warns).
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LayeredCache } from '../../src/store/cache.js';
import { decodeActionResult } from '../../src/store/remote/bazel.js';
import { MAX_FAILURES } from '../../src/store/remote/circuit.js';
import { RECORD_PATH, RemoteCache } from '../../src/store/remote/remote-cache.js';
import { parseTimeouts, remoteSettings, type ManifestRemote } from '../../src/store/remote/settings.js';
import { hashFile } from '../../src/store/hash.js';
import { Store, type ActionRecord } from '../../src/store/store.js';
import { CacheServer } from '../helpers/cache-server.js';
import { tempDir } from '../helpers/cli.js';

const KEY = 'b'.repeat(64);
const OTHER = 'c'.repeat(64);

let server: CacheServer;
beforeEach(async () => {
  server = new CacheServer();
  await server.start();
});
afterEach(async () => server.stop());

function remote(
  store: Store,
  env: Record<string, string> = {},
  timeoutMs?: number,
  manifest: Partial<ManifestRemote> = {},
): { cache: RemoteCache; warnings: string[] } {
  const settings = remoteSettings({ url: server.url, readOnly: false, ...(timeoutMs ? { timeoutMs } : {}), ...manifest }, {}, env);
  if (!settings.ok || !settings.value) throw new Error('settings');
  const cache = new RemoteCache(settings.value, { concurrency: 4, storeRoot: store.root });
  const warnings: string[] = [];
  cache.warn = (m) => warnings.push(m);
  return { cache, warnings };
}

/** A store holding one result (a 200 kB library, or `size` bytes), uploaded to the server. */
async function uploaded(env: Record<string, string> = {}, size = 200_000): Promise<{ store: Store; record: ActionRecord }> {
  const store = await Store.open(await tempDir('mlc-build-remote-a-'));
  const dir = await tempDir('mlc-build-out-');
  await writeFile(join(dir, 'lib.so'), Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 10)) & 0xff)));
  const record: ActionRecord = { key: KEY, node: 'compile:M/q/cuda', outputs: await store.ingestDir(dir), durationMs: 5, createdAt: '2026-01-01T00:00:00Z' };
  await store.putRecord(record, { step: 'compile' });
  const { cache, warnings } = remote(store, env);
  await cache.upload(record, { step: 'compile' }, store);
  await cache.close(); // the memo of what the remote holds is saved, as at the end of a build
  expect(warnings).toEqual([]);
  return { store, record };
}

async function fetchInto(env: Record<string, string> = {}, timeoutMs?: number) {
  const local = await Store.open(await tempDir('mlc-build-remote-b-'));
  const r = remote(local, env, timeoutMs);
  const layered = new LayeredCache(local, [r.cache]);
  const hit = await layered.lookup(KEY, { verify: false });
  const restored = hit ? await hit.restore() : undefined;
  return { local, hit, restored, warnings: r.warnings, cache: r.cache };
}

describe('remote cache protocol and faults', () => {
  it('round trip: the action result is Bazel JSON naming every blob; a fresh store restores it', async () => {
    const { record } = await uploaded();
    const result = decodeActionResult(server.entries.get(`/ac/${KEY}`) as Buffer);
    if (!result.ok) throw new Error(result.error);
    const digest = (record.outputs['lib.so'] as { digest: string }).digest;
    expect(result.value.outputFiles.map((f) => f.path)).toEqual(['lib.so', '.mlc-build/record.json']);
    expect(result.value.outputFiles[0]?.digest).toEqual({ hash: digest, size: 200_000 });
    const { restored, local, warnings } = await fetchInto();
    expect(restored?.ok).toBe(true);
    expect(await local.hasBlob(digest, { verify: true })).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('hundreds of lookups at once all answer: no response waits unread while holding a socket', async () => {
    const store = await Store.open(await tempDir('mlc-build-remote-many-'));
    const { cache } = remote(store);
    const keys = Array.from({ length: 150 }, (_, i) => i.toString(16).padStart(64, 'a'));
    for (const key of keys) {
      const dir = await tempDir('mlc-build-out-');
      await writeFile(join(dir, 'mlc-chat-config.json'), `{"n": "${key}"}`);
      const record: ActionRecord = { key, node: `config:${key}`, outputs: await store.ingestDir(dir), durationMs: 1, createdAt: '2026-01-01T00:00:00Z' };
      await cache.upload(record, {}, store);
    }
    const fresh = await Store.open(await tempDir('mlc-build-remote-many-b-'));
    const reader = remote(fresh, {}, 2000);
    // What node itself would print on stderr (a listener leak warning) is something a user sees too.
    const printed: string[] = [];
    const onWarning = (w: Error) => printed.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const found = await Promise.all(keys.map((k) => reader.cache.getRecord(k)));
      await new Promise((r) => setImmediate(r));
      expect(reader.warnings).toEqual([]);
      expect(printed).toEqual([]);
      expect(found.map((r) => (r.kind === 'found' ? r.value.key : r.kind))).toEqual(keys);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('results sharing a blob restored at once fetch it once', async () => {
    const store = await Store.open(await tempDir('mlc-build-remote-shared-'));
    const { cache } = remote(store);
    const keys = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(64, 'e'));
    for (const key of keys) {
      const dir = await tempDir('mlc-build-out-');
      await writeFile(join(dir, 'tokenizer.json'), '{"shared": true}');
      await writeFile(join(dir, 'mlc-chat-config.json'), `{"n": "${key}"}`);
      await cache.upload({ key, node: `config:${key}`, outputs: await store.ingestDir(dir), durationMs: 1, createdAt: '2026-01-01T00:00:00Z' }, {}, store);
    }
    const local = await Store.open(await tempDir('mlc-build-remote-shared-b-'));
    const reader = remote(local, {}, 2000);
    const layered = new LayeredCache(local, [reader.cache]);
    const hits = await Promise.all(keys.map((k) => layered.lookup(k, { verify: false })));
    server.requests.length = 0;
    const restored = await Promise.all(hits.map((h) => (h ? h.restore() : Promise.resolve(undefined))));
    expect(restored.map((r) => r?.ok)).toEqual(keys.map(() => true));
    const shared = (Object.values(restored[0]?.ok ? restored[0].value : {}) as { digest: string }[]).find((f) => f.digest)?.digest;
    const gets = server.requests.filter((q) => q.method === 'GET' && q.path.startsWith('/cas/'));
    const perBlob = new Map<string, number>();
    for (const g of gets) perBlob.set(g.path, (perBlob.get(g.path) ?? 0) + 1);
    expect(shared).toBeDefined();
    expect([...perBlob.values()].every((n) => n === 1)).toBe(true);
    expect(gets.length).toBe(keys.length + 1); // each config once, the shared tokenizer once
    expect(reader.warnings).toEqual([]);
  });

  it('reads protobuf-JSON spelling: camelCase names, sizes as strings', () => {
    const h = 'd'.repeat(64);
    const r = decodeActionResult(
      Buffer.from(JSON.stringify({ outputFiles: [{ path: 'x', digest: { hash: h, sizeBytes: '12' } }], stdoutDigest: { hash: h } })),
    );
    expect(r.ok && r.value).toEqual({ outputFiles: [{ path: 'x', digest: { hash: h, size: 12 } }], exitCode: 0, stdout: { hash: h, size: 0 } });
  });

  it('a second upload sends no blob again (HEAD first)', async () => {
    const { store, record } = await uploaded();
    const before = server.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/cas/')).length;
    await remote(store).cache.upload(record, { step: 'compile' }, store);
    expect(server.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/cas/')).length).toBe(before);
  });

  it('a corrupted blob is refused: never placed, a warning, a miss', async () => {
    const { record } = await uploaded();
    server.faults.corrupt = true;
    const { restored, local } = await fetchInto();
    expect(restored?.ok).toBe(false);
    expect(!restored?.ok && restored?.error.message).toMatch(/arrived with digest/);
    expect(!restored?.ok && restored?.error.reported).toBe(false); // the store found it: the step says so
    expect(await local.hasBlob((record.outputs['lib.so'] as { digest: string }).digest)).toBe(false);
    expect(await local.getRecord(KEY)).toBeUndefined();
  });

  it('a key the server does not hold is a miss, without a warning', async () => {
    const store = await Store.open(await tempDir('mlc-build-remote-miss-'));
    const { cache, warnings } = remote(store);
    expect(await cache.getRecord(OTHER)).toEqual({ kind: 'miss' });
    expect(warnings).toEqual([]);
  });

  it('an action result naming a missing blob is a miss', async () => {
    const { record } = await uploaded();
    server.entries.delete(`/cas/${(record.outputs['lib.so'] as { digest: string }).digest}`);
    expect((await fetchInto()).hit).toBeUndefined();
  });

  it('a connection cut mid-GET is resumed with Range', async () => {
    await uploaded();
    server.faults.cutOnce = true;
    const { restored } = await fetchInto();
    expect(restored?.ok).toBe(true);
    expect(server.requests.some((q) => q.range?.startsWith('bytes=') && q.status === 206)).toBe(true);
  });

  it('a large blob (read straight from the socket) cut mid-GET is resumed with Range and lands whole', async () => {
    const { record } = await uploaded({}, 6 << 20);
    server.faults.cutOnce = true;
    const { restored, local } = await fetchInto();
    expect(restored?.ok).toBe(true);
    expect(server.requests.some((q) => q.range?.startsWith('bytes=') && q.status === 206)).toBe(true);
    const digest = (record.outputs['lib.so'] as { digest: string }).digest;
    expect((await hashFile(local.blobPath(digest))).digest).toBe(digest);
  });

  it('a large corrupted blob is refused like a small one: never placed, a miss', async () => {
    const { record } = await uploaded({}, 6 << 20);
    server.faults.corrupt = true;
    const { restored, local } = await fetchInto();
    expect(!restored?.ok && restored?.error.message).toMatch(/arrived with digest/);
    expect(await local.hasBlob((record.outputs['lib.so'] as { digest: string }).digest)).toBe(false);
    expect(await readdir(join(local.root, 'tmp'))).toEqual([]);
  });

  it('500 and 413 on PUT: one warning naming the server, counted as failed uploads, nothing thrown', async () => {
    for (const status of [500, 413]) {
      server.faults.putStatus = status;
      const store = await Store.open(await tempDir('mlc-build-remote-a-'));
      const dir = await tempDir('mlc-build-out-');
      await writeFile(join(dir, 'lib.so'), `library ${status}`);
      const record: ActionRecord = { key: KEY, node: 'n', outputs: await store.ingestDir(dir), durationMs: 1, createdAt: '' };
      const { cache, warnings } = remote(store);
      await cache.upload(record, {}, store);
      await cache.upload({ ...record, key: OTHER }, {}, store);
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toContain(`127.0.0.1:${new URL(server.url).port}`);
      expect(warnings[0]).toContain(`HTTP ${status}`);
      expect(cache.providerStats().uploadFailures).toBe(2);
      expect(server.entries.has(`/ac/${KEY}`)).toBe(false);
    }
  });

  it('a slow server times out (idle, not a deadline) and the lookup is a miss', async () => {
    await uploaded();
    server.faults.delayMs = 1500;
    const t = Date.now();
    const { hit, warnings } = await fetchInto({}, 300);
    expect(hit).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(1400);
    expect(warnings[0]).toMatch(/failed \(first-byte timeout\): no data for 0\.3s/);
  });

  it('after repeated failures the remote is not asked again in this build', async () => {
    await server.stop();
    const local = await Store.open(await tempDir('mlc-build-remote-b-'));
    const { cache, warnings } = remote(local);
    // A failure, not a miss: in the type and in the warning.
    expect(await cache.getRecord(KEY)).toMatchObject({ kind: 'failed', reason: 'connection' });
    for (let i = 0; i < 9; i++) expect((await cache.getRecord(KEY)).kind).toBe('failed');
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/GET \/ac\/b+… failed \(connection ECONNREFUSED\)/);
  });

  it('a failing server is switched off: after a few failed uploads, later results are not sent (one warning)', async () => {
    server.faults.putStatus = 500;
    const { store, records } = await storeOf(10);
    const { cache, warnings } = remote(store);
    for (const record of records) await cache.upload(record, {}, store);
    expect(server.requests.filter((q) => q.method === 'PUT')).toHaveLength(MAX_FAILURES);
    expect(cache.providerStats().uploadFailures).toBe(10); // not sent: the next build tries again
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`after ${MAX_FAILURES} failures it is not asked again in this build`);
  });

  it('a server failing every read is switched off for lookups after a few failures', async () => {
    server.faults.getStatus = 500;
    const local = await Store.open(await tempDir('mlc-build-remote-b-'));
    const { cache, warnings } = remote(local);
    for (let i = 0; i < 10; i++) expect((await cache.getRecord(i.toString(16).padStart(64, 'f'))).kind).toBe('failed');
    expect(server.requests).toHaveLength(MAX_FAILURES);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/GET \/ac\/f+… failed \(HTTP 500\)/);
  });

  it('a record blob whose bytes do not match its digest is refused, even when it reads as a valid record', async () => {
    await uploaded();
    const ac = decodeActionResult(server.entries.get(`/ac/${KEY}`) as Buffer);
    if (!ac.ok) throw new Error(ac.error);
    const recordPath = `/cas/${ac.value.outputFiles.find((f) => f.path === RECORD_PATH)?.digest.hash ?? ''}`;
    // Rewritten in place: the record now names another library, one the server holds.
    const forgedLib = Buffer.from('not the library that was built');
    const forgedHash = createHash('sha256').update(forgedLib).digest('hex');
    server.entries.set(`/cas/${forgedHash}`, forgedLib);
    const blob = JSON.parse((server.entries.get(recordPath) as Buffer).toString()) as { record: ActionRecord };
    blob.record.outputs = { 'lib.so': { digest: forgedHash, size: forgedLib.length } };
    server.entries.set(recordPath, Buffer.from(JSON.stringify(blob)));
    const { hit, local, warnings } = await fetchInto();
    expect(hit).toBeUndefined();
    expect(warnings.join()).toMatch(/blob [0-9a-f]{12}… arrived with another digest; refused/);
    expect(await local.hasBlob(forgedHash)).toBe(false);
    expect(await local.getRecord(KEY)).toBeUndefined();
  });

  it('a read-only remote is sent nothing: neither fresh results nor those found in the local store', async () => {
    const { store, records } = await storeOf(2);
    const [found, fresh] = records as [ActionRecord, ActionRecord];
    const { cache, warnings } = remote(store, {}, undefined, { readOnly: true });
    const layered = new LayeredCache(store, [cache]);
    layered.offer(found); // a result the build found in the local store
    await layered.record({ ...fresh, key: OTHER }, {}); // a result the build made
    const [report] = await layered.flush();
    expect(server.requests).toEqual([]); // not even asked whether it holds them: it would not be sent them
    expect(report).toMatchObject({ uploads: 0, uploadFailures: 0 });
    expect(warnings).toEqual([]);
  });

  it('signed results: the right key reads them; unsigned, tampered and replayed results are refused', async () => {
    const key = { MLC_BUILD_REMOTE_SIGNING_KEY: 'k3y-for-signing' };
    await uploaded(key);
    expect((await fetchInto(key)).restored?.ok).toBe(true);
    expect((await fetchInto({ MLC_BUILD_REMOTE_SIGNING_KEY: 'another-key' })).warnings.join()).toMatch(/bad signature/);

    // Tampered: the record blob rewritten (and the action result pointing at it), signature kept.
    const ac = decodeActionResult(server.entries.get(`/ac/${KEY}`) as Buffer);
    if (!ac.ok) throw new Error(ac.error);
    const recPath = `/cas/${ac.value.outputFiles[1]?.digest.hash}`;
    const blob = JSON.parse((server.entries.get(recPath) as Buffer).toString()) as { record: ActionRecord };
    blob.record.node = 'compile:Evil/q/cuda';
    const forged = Buffer.from(JSON.stringify(blob));
    const forgedHash = createHash('sha256').update(forged).digest('hex');
    server.entries.set(`/cas/${forgedHash}`, forged);
    const acJson = JSON.parse((server.entries.get(`/ac/${KEY}`) as Buffer).toString()) as { output_files: { digest: { hash: string; size_bytes: number } }[] };
    const original = server.entries.get(`/ac/${KEY}`) as Buffer;
    (acJson.output_files[1] as { digest: { hash: string; size_bytes: number } }).digest = { hash: forgedHash, size_bytes: forged.length };
    server.entries.set(`/ac/${KEY}`, Buffer.from(JSON.stringify(acJson)));
    const tampered = await fetchInto(key);
    expect(tampered.hit).toBeUndefined();
    expect(tampered.warnings.join()).toMatch(/bad signature/);

    // Replayed: a valid result copied under another step's key.
    server.entries.set(`/ac/${KEY}`, original);
    server.entries.set(`/ac/${OTHER}`, original);
    const local = await Store.open(await tempDir('mlc-build-remote-b-'));
    const r = remote(local, key);
    expect(await new LayeredCache(local, [r.cache]).lookup(OTHER, { verify: false })).toBeUndefined();
    expect(r.warnings.join()).toMatch(/is the result of key/);

    // Unsigned: written without the key, read with it.
    server.entries.clear();
    await uploaded();
    const unsigned = await fetchInto(key);
    expect(unsigned.hit).toBeUndefined();
    expect(unsigned.warnings.join()).toMatch(/not signed/);
  });
});

/** A listener that accepts connections and never answers; counts what it was sent. */
async function blackHole(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const hole = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(hole.address() as { port: number }).port}`,
    connections: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hole.close(r));
    },
  };
}

/** A store holding `n` small results, each with its own blob. */
async function storeOf(n: number): Promise<{ store: Store; records: ActionRecord[] }> {
  const store = await Store.open(await tempDir('mlc-build-remote-n-'));
  const records: ActionRecord[] = [];
  for (let i = 0; i < n; i++) {
    const dir = await tempDir('mlc-build-out-');
    await writeFile(join(dir, 'lib.so'), `library ${i}`);
    const record: ActionRecord = {
      key: i.toString(16).padStart(64, 'd'),
      node: `compile:${i}`,
      outputs: await store.ingestDir(dir),
      durationMs: 1,
      createdAt: '',
    };
    await store.putRecord(record, {});
    records.push(record);
  }
  return { store, records };
}

describe('a cache that hangs', () => {
  const FIRST_BYTE = 400;

  it('a black-holed server: one round of timeouts for reads and writes together, queued work never sent, one warning', async () => {
    const hole = await blackHole();
    try {
      const { store, records } = await storeOf(40);
      const settings = remoteSettings({ url: hole.url, readOnly: false, firstByteTimeoutMs: FIRST_BYTE, idleTimeoutMs: FIRST_BYTE }, {}, {});
      if (!settings.ok || !settings.value) throw new Error('settings');
      const cache = new RemoteCache(settings.value, { concurrency: 4, storeRoot: store.root });
      const warnings: string[] = [];
      cache.warn = (m) => warnings.push(m);
      const t = Date.now();
      // More lookups and uploads than the small-request pool takes at once: the rest queue behind them.
      const lookups = records.map((r) => cache.getRecord(r.key));
      const uploads = records.map((r) => cache.upload(r, {}, store));
      const seeds = records.map((r) => cache.seed({ ...r, key: r.key.replace(/^d/, 'e') }, {}, store));
      const answers = await Promise.all(lookups);
      await Promise.all([...uploads, ...seeds]);
      await cache.close();
      const ms = Date.now() - t;
      expect(ms).toBeGreaterThanOrEqual(FIRST_BYTE - 50);
      expect(ms).toBeLessThan(2 * FIRST_BYTE + 300); // one round, not one per queue's worth
      expect(answers.every((a) => a.kind === 'failed')).toBe(true);
      expect(hole.connections()).toBeLessThanOrEqual(16); // the first wave only
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/failed \(first-byte timeout\): no data for 0\.4s .*not asked again in this build/);
      expect(cache.providerStats().uploadFailures).toBe(80); // not sent: the next build tries again
    } finally {
      await hole.close();
    }
  });

  it.each([
    ['a body', 200_000],
    ['a large body (read straight from the socket)', 6 << 20],
  ])('%s that stalls mid-way: given up on the idle timeout, not retried, no partial blob, the failure reported once', async (_what, size) => {
    const { record } = await uploaded({}, size);
    const lib = `/cas/${(record.outputs['lib.so'] as { digest: string }).digest}`;
    server.faults.stall = true;
    const t = Date.now();
    const { restored, local, warnings } = await fetchInto({}, 300);
    expect(Date.now() - t).toBeLessThan(1500);
    expect(restored?.ok).toBe(false);
    expect(!restored?.ok && restored?.error.reported).toBe(true); // the step runs without a second warning
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/GET \/cas\/[0-9a-f]+… failed \(idle timeout\): no data for 0\.3s in the middle of the response/);
    expect(server.requests.filter((q) => q.method === 'GET' && q.path === lib)).toHaveLength(1); // no retry, no Range
    expect(await readdir(join(local.root, 'tmp')).catch(() => [])).toEqual([]);
    expect(await local.getRecord(KEY)).toBeUndefined();
  });
});

describe('a cache that forgets', () => {
  it('a result seen there is trusted for recheck_after; then checked again (entry and blobs) and sent again if gone', async () => {
    const { store, record } = await uploaded();
    const first = remote(store);
    const before = server.requests.length;
    await first.cache.seed(record, {}, store); // remembered at upload: no request
    expect(server.requests.length).toBe(before);
    // The server evicts one blob; a memo younger than recheck_after does not notice.
    const blob = `/cas/${(record.outputs['lib.so'] as { digest: string }).digest}`;
    server.entries.delete(blob);
    const trusting = remote(store);
    await trusting.cache.seed(record, {}, store);
    expect(server.requests.length).toBe(before);
    expect(await trusting.cache.holds(KEY)).toBe('lacks'); // status asks now
    // Past the age: the entry and every blob it names are asked about, and the missing blob is sent again.
    const rechecking = remote(store, {}, undefined, { recheckAfterMs: 0 });
    await rechecking.cache.seed(record, {}, store);
    const asked = server.requests.slice(before + 1);
    expect(asked.some((q) => q.method === 'GET' && q.path === `/ac/${KEY}`)).toBe(true);
    expect(asked.some((q) => q.method === 'PUT' && q.path === blob && q.status === 200)).toBe(true);
    expect(server.entries.has(blob)).toBe(true);
    expect(rechecking.cache.providerStats().uploads).toBe(1);
    expect(await rechecking.cache.holds(KEY)).toBe('held');
    expect(rechecking.warnings).toEqual([]);
  });

  it('the memo keeps when each result was seen, and reads the older list of keys as seen long ago', async () => {
    const { store, record } = await uploaded();
    const { cache } = remote(store);
    await cache.seed(record, {}, store);
    await cache.close();
    const dir = join(store.root, 'remote');
    const [file] = await readdir(dir);
    const memo = JSON.parse(await (await import('node:fs/promises')).readFile(join(dir, file as string), 'utf8')) as { seen: Record<string, number> };
    expect(Date.now() - (memo.seen[KEY] ?? 0)).toBeLessThan(60_000);
    expect(cache.providerStats().recheckAt).toBe((memo.seen[KEY] ?? 0) + 86_400_000);
    await writeFile(join(dir, file as string), JSON.stringify([KEY]));
    const before = server.requests.length;
    await remote(store).cache.seed(record, {}, store);
    expect(server.requests.slice(before).some((q) => q.path === `/ac/${KEY}`)).toBe(true);
  });
});

describe('remote cache settings', () => {
  it('timeouts: a few seconds by default; the flag over the manifest, a phase of its own over timeout_ms', () => {
    const get = (m: Partial<ManifestRemote>, flag?: string) => {
      const r = remoteSettings({ url: 'http://127.0.0.1:1', readOnly: false, ...m }, flag === undefined ? {} : { remoteCacheTimeouts: flag }, {});
      if (!r.ok || !r.value) throw new Error(r.ok ? 'none' : r.error);
      return r.value;
    };
    expect(get({}).timeouts).toEqual({ connectMs: 3000, firstByteMs: 10_000, idleMs: 10_000 });
    expect(get({}).recheckAfterMs).toBe(86_400_000);
    expect(get({ timeoutMs: 500, idleTimeoutMs: 700 }).timeouts).toEqual({ connectMs: 3000, firstByteMs: 500, idleMs: 700 });
    expect(get({ connectTimeoutMs: 100 }, 'connect=2s,first-byte=1.5s,idle=250ms').timeouts).toEqual({ connectMs: 2000, firstByteMs: 1500, idleMs: 250 });
    expect(parseTimeouts('idle=4000')).toEqual({ ok: true, value: { idleMs: 4000 } });
    expect(parseTimeouts('read=1s')).toMatchObject({ ok: false });
    expect(parseTimeouts('idle=soon')).toMatchObject({ ok: false });
  });
});
