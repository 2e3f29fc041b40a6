// The HTTP layer against small servers made here on 127.0.0.1: resume, restart, verification,
// retries with backoff, each timeout, abort, redirects, PUT and small requests. Each test asserts
// what a server saw and what reached the file, not how the client gets there.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSink, HttpClient, streamSink, type DownloadSink, type NetFailure, type Timeouts } from '../../src/net/index.js';
import type { Result } from '../../src/result.js';
import { tempDir } from '../helpers/cli.js';

const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31 + 7) & 0xff));
const SHA = createHash('sha256').update(BODY).digest('hex');
const FAST: Timeouts = { connectMs: 2000, firstByteMs: 2000, idleMs: 2000 };
const QUICK_RETRY = { baseMs: 10, maxMs: 20 };
const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));

interface Seen {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  length?: string;
  body: number;
  at: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server on 127.0.0.1 that logs every request and answers with `handle` (n: the request's index). */
async function serve(handle: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const entry: Seen = {
      method: req.method ?? '',
      path: req.url ?? '',
      range: req.headers.range,
      auth: req.headers.authorization,
      length: req.headers['content-length'],
      body: 0,
      at: Date.now(),
    };
    seen.push(entry);
    req.on('data', (c: Buffer) => (entry.body += c.length));
    req.on('end', () => handle(req, res, seen.length - 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

/** Answers a Range request with 206 and the rest, else 200 and the whole body. */
function sendRange(req: IncomingMessage, res: ServerResponse, body = BODY): void {
  const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
  res.writeHead(from > 0 ? 206 : 200, {
    'content-length': String(body.length - from),
    ...(from > 0 ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
  });
  res.end(body.subarray(from));
}

/** Sends the headers and the first `n` bytes of the body, then destroys the socket. */
function cutAfter(res: ServerResponse, n: number, body = BODY): void {
  res.writeHead(200, { 'content-length': String(body.length) });
  res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 20));
}

function clientOf(timeouts: Timeouts = FAST, headers: Record<string, string> = {}, directFrom?: number): HttpClient {
  const c = new HttpClient({ timeouts, headers, ...(directFrom !== undefined ? { directFrom } : {}) });
  cleanups.push(() => c.close());
  return c;
}

/** The two ways a download's body is read, which every guarantee must hold for: node:http's stream, and straight from the socket into reused buffers (direct.ts). */
const READERS = [
  { reader: 'node:http', directFrom: Infinity },
  { reader: 'direct reads', directFrom: 0 },
];

async function target(): Promise<string> {
  return join(await tempDir('mlc-build-net-'), 'blob.incomplete');
}

function failure<T>(r: Result<T, NetFailure>): NetFailure {
  if (r.ok) throw new Error('expected a failure');
  return r.error;
}

describe.each(READERS)('resumable verified GET ($reader)', ({ directFrom }) => {
  const client = (timeouts: Timeouts = FAST, headers: Record<string, string> = {}) => clientOf(timeouts, headers, directFrom);

  it('resumes a body cut mid-way with Range from the last byte, and the digest is right', async () => {
    const { url, seen } = await serve((req, res, n) => (n === 0 ? cutAfter(res, 70_000) : sendRange(req, res)));
    const file = await target();
    const r = await client().download(`${url}/blob`, await fileSink(file), { expected: { size: BODY.length, sha256: SHA }, retry: QUICK_RETRY });
    expect(r).toEqual({ ok: true, value: { size: BODY.length, sha256: SHA } });
    expect(await readFile(file)).toEqual(BODY);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=70000-']);
  });

  it('resumes from a partial file an earlier run left', async () => {
    const { url, seen } = await serve((req, res) => sendRange(req, res));
    const file = await target();
    await writeFile(file, BODY.subarray(0, 123_456));
    const r = await client().download(`${url}/blob`, await fileSink(file), { expected: { size: BODY.length, sha256: SHA } });
    expect(r.ok && r.value.sha256).toBe(SHA);
    expect(seen.map((s) => s.range)).toEqual(['bytes=123456-']);
    expect(await readFile(file)).toEqual(BODY);
  });

  it('starts again from byte 0 when the server answers a Range request with 200', async () => {
    // The first answer is cut; the second ignores Range and sends a whole body, which replaces what was there.
    const stale = Buffer.alloc(BODY.length, 1);
    const { url, seen } = await serve((_req, res, n) => (n === 0 ? cutAfter(res, 50_000, stale) : res.end(BODY)));
    const file = await target();
    const progress: number[] = [];
    const r = await client().download(`${url}/blob`, await fileSink(file), {
      expected: { sha256: SHA },
      retry: QUICK_RETRY,
      onProgress: (b) => progress.push(b),
    });
    expect(r.ok && r.value).toEqual({ size: BODY.length, sha256: SHA });
    expect(await readFile(file)).toEqual(BODY);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=50000-']);
    expect(progress.at(-1)).toBe(BODY.length);
  });

  it('into a stream that cannot rewind: a 200 to a Range request passes over the bytes it already had', async () => {
    const { url } = await serve((_req, res, n) => (n === 0 ? cutAfter(res, 50_000) : res.end(BODY)));
    const chunks: Buffer[] = [];
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    const r = await client().download(`${url}/blob`, streamSink(out), { retry: QUICK_RETRY });
    expect(r.ok && r.value.sha256).toBe(SHA);
    expect(Buffer.concat(chunks)).toEqual(BODY);
  });

  it('refuses bytes whose digest is not the expected one, and does not retry them', async () => {
    const { url, seen } = await serve((_req, res) => res.end(BODY));
    const r = await client().download(`${url}/blob`, await fileSink(await target()), { expected: { sha256: 'f'.repeat(64) }, retry: QUICK_RETRY });
    expect(failure(r)).toMatchObject({ reason: 'digest-mismatch', expected: 'f'.repeat(64), actual: SHA });
    expect(seen.length).toBe(1);
  });

  it('refuses a body longer than the expected size', async () => {
    const { url } = await serve((_req, res) => res.end(BODY));
    const r = await client().download(`${url}/blob`, await fileSink(await target()), { expected: { size: 1000 } });
    expect(failure(r)).toMatchObject({ reason: 'size-mismatch', expected: 1000, actual: BODY.length });
  });

  it('retries a 5xx, then succeeds', async () => {
    const { url, seen } = await serve((req, res, n) => (n < 2 ? res.writeHead(503).end() : sendRange(req, res)));
    const file = await target();
    const r = await client().download(`${url}/blob`, await fileSink(file), { expected: { sha256: SHA }, retry: QUICK_RETRY });
    expect(r.ok).toBe(true);
    expect(seen.length).toBe(3);
    expect(await readFile(file)).toEqual(BODY);
  });

  it('gives up after the retries it was allowed, with the reason', async () => {
    const { url, seen } = await serve((_req, res) => res.writeHead(500).end());
    const r = await client().download(`${url}/blob`, await fileSink(await target()), { retry: { ...QUICK_RETRY, retries: 3 } });
    expect(failure(r)).toMatchObject({ reason: 'http-status', status: 500 });
    expect(failure(r).message).toMatch(/gave up after 4 tries/);
    expect(seen.length).toBe(4);
  });

  it('does not retry a 404', async () => {
    const { url, seen } = await serve((_req, res) => res.writeHead(404).end());
    const r = await client().download(`${url}/blob`, await fileSink(await target()), { retry: QUICK_RETRY });
    expect(failure(r)).toMatchObject({ reason: 'http-status', status: 404 });
    expect(seen.length).toBe(1);
  });

  it('follows a redirect to another origin, without the credentials', async () => {
    const cdn = await serve((req, res) => sendRange(req, res));
    const hub = await serve((_req, res) => res.writeHead(302, { location: `${cdn.url}/signed/blob?x=1` }).end());
    const file = await target();
    const r = await client(FAST, { authorization: 'Bearer hub-token' }).download(`${hub.url}/org/m/resolve/main/blob`, await fileSink(file), {
      expected: { sha256: SHA },
    });
    expect(r.ok).toBe(true);
    expect(await readFile(file)).toEqual(BODY);
    expect(hub.seen[0]?.auth).toBe('Bearer hub-token');
    expect(cdn.seen.map((s) => [s.path, s.auth])).toEqual([['/signed/blob?x=1', undefined]]);
  });
});

// How a body is read does not change the waits: one reader is enough.
describe('retries', () => {
  const client = () => clientOf();

  it('waits between retries: doubling up to the cap, half fixed and half random', async () => {
    const gaps = async (random: () => number): Promise<number[]> => {
      const { url, seen } = await serve((_req, res) => res.writeHead(503).end());
      await client().download(`${url}/blob`, await fileSink(await target()), { retry: { retries: 3, baseMs: 200, maxMs: 300, random } });
      return seen.slice(1).map((s, i) => s.at - (seen[i]?.at ?? 0));
    };
    const low = await gaps(() => 0);
    const high = await gaps(() => 0.999);
    // Waits 200·2^(n-1) capped at 300 (200, 300, 300), scaled into [half, whole] by the random draw.
    for (const g of low) expect(g).toBeGreaterThanOrEqual(95);
    for (const g of high) expect(g).toBeLessThan(300 + 150);
    expect(high[0] ?? 0).toBeGreaterThanOrEqual(195);
    expect((high[1] ?? 0) - (low[1] ?? 0)).toBeGreaterThan(100);
  });
});

describe.each(READERS)('timeouts and abort ($reader)', ({ directFrom }) => {
  const client = (timeouts: Timeouts = FAST, headers: Record<string, string> = {}) => clientOf(timeouts, headers, directFrom);

  it('connect: a listener whose queue is full never completes the handshake', async () => {
    const port = await unansweredPort();
    const t = Date.now();
    const r = await client({ connectMs: 300, firstByteMs: 5000, idleMs: 5000 }).download(`http://127.0.0.1:${port}/blob`, await fileSink(await target()), {
      retry: { retries: 0 },
    });
    expect(failure(r)).toMatchObject({ reason: 'timeout', phase: 'connect' });
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('first byte: a server that reads the request and never answers', async () => {
    const { url } = await serve(() => {});
    const t = Date.now();
    const r = await client({ connectMs: 5000, firstByteMs: 300, idleMs: 5000 }).download(`${url}/blob`, await fileSink(await target()), {
      retry: { retries: 0 },
    });
    expect(failure(r)).toMatchObject({ reason: 'timeout', phase: 'first-byte' });
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('idle: a server that sends the headers and part of the body, then stalls; retried, then given up', async () => {
    const { url, seen } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 1000));
    });
    const t = Date.now();
    const r = await client({ connectMs: 5000, firstByteMs: 5000, idleMs: 300 }).download(`${url}/blob`, await fileSink(await target()), {
      retry: { retries: 1, baseMs: 10, maxMs: 10 },
    });
    expect(failure(r)).toMatchObject({ reason: 'timeout', phase: 'idle' });
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=1000-']);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('a slow body is not a timeout: bytes keep moving for longer than the idle time', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      let off = 0;
      const tick = () => {
        off += 20_000;
        if (off >= BODY.length) res.end(BODY.subarray(off - 20_000));
        else res.write(BODY.subarray(off - 20_000, off), () => setTimeout(tick, 100));
      };
      tick();
    });
    const r = await client({ connectMs: 5000, firstByteMs: 5000, idleMs: 400 }).download(`${url}/blob`, await fileSink(await target()), {
      retry: { retries: 0 },
    });
    expect(r.ok && r.value.sha256).toBe(SHA);
  });

  it('an abort stops a stalled transfer at once, and between retries', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 1000));
    });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 200);
    const t = Date.now();
    const r = await client().download(`${url}/blob`, await fileSink(await target()), { signal: stop.signal });
    expect(failure(r).reason).toBe('aborted');
    expect(Date.now() - t).toBeLessThan(1000);

    const failing = await serve((_req, res) => res.writeHead(503).end());
    const later = new AbortController();
    setTimeout(() => later.abort(), 200);
    const t2 = Date.now();
    const r2 = await client().download(`${failing.url}/blob`, await fileSink(await target()), {
      signal: later.signal,
      retry: { retries: 5, baseMs: 5000, maxMs: 5000 },
    });
    expect(failure(r2).reason).toBe('aborted');
    expect(Date.now() - t2).toBeLessThan(1000);
    expect(failing.seen.length).toBe(1);
  });
});

describe.each(READERS)('bodies of every shape ($reader)', ({ directFrom }) => {
  const client = (timeouts: Timeouts = FAST) => clientOf(timeouts, {}, directFrom);
  const LARGE = Buffer.from(Array.from({ length: 5_500_000 }, (_, i) => (i * 131 + (i >> 12)) & 0xff));
  const LARGE_SHA = createHash('sha256').update(LARGE).digest('hex');

  it('a chunked body (no length) arrives whole, however its chunks are cut', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      for (let at = 0; at < BODY.length; at += 44_444) res.write(BODY.subarray(at, at + 44_444)); // sizes in hex with letters: ad9c
      res.end();
    });
    const file = await target();
    const r = await client().download(`${url}/blob`, await fileSink(file), { expected: { sha256: SHA } });
    expect(r.ok && r.value.size).toBe(BODY.length);
    expect(await readFile(file)).toEqual(BODY);
  });

  it('a body that ends when the server closes (HTTP/1.0 style) arrives whole; a reply that is not HTTP is a connection failure', async () => {
    const raw = await rawServer((socket) => socket.end(Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nx-a: 1\r\n\r\n'), BODY])));
    const file = await target();
    const r = await client().download(`${raw}/blob`, await fileSink(file), { expected: { sha256: SHA } });
    expect(r.ok).toBe(true);
    expect(await readFile(file)).toEqual(BODY);
    const garbage = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    expect(failure(await client().download(`${garbage}/blob`, await fileSink(await target()), { retry: { retries: 0 } })).reason).toBe('connection');
  });

  it('a large body into a slow sink: reading waits for it, and no chunk changes while the sink holds it', async () => {
    const { url } = await serve((req, res) => sendRange(req, res, LARGE));
    const parts: Buffer[] = [];
    let changed = 0;
    const slow: DownloadSink = {
      held: 0,
      readHeld: async function* () {},
      write: (chunk) => {
        const copy = Buffer.from(chunk);
        return new Promise((resolve) =>
          setTimeout(() => {
            if (!copy.equals(chunk)) changed++;
            parts.push(copy);
            resolve();
          }, 2),
        );
      },
      rewind: () => Promise.resolve(false),
      end: () => Promise.resolve(),
      destroy: () => {},
    };
    const r = await client().download(`${url}/blob`, slow, { expected: { size: LARGE.length, sha256: LARGE_SHA } });
    expect(r.ok).toBe(true);
    expect(changed).toBe(0);
    expect(Buffer.concat(parts).equals(LARGE)).toBe(true); // not toEqual: it compares 5 MB byte by byte, slowly
  });

  it('a large body cut twice is resumed to the right bytes', async () => {
    const { url, seen } = await serve((req, res, n) => (n < 2 ? cutAfter(res, 1_700_000 * (n + 1), LARGE) : sendRange(req, res, LARGE)));
    const file = await target();
    const r = await client().download(`${url}/blob`, await fileSink(file), { expected: { size: LARGE.length, sha256: LARGE_SHA }, retry: QUICK_RETRY });
    expect(r.ok).toBe(true);
    expect((await readFile(file)).equals(LARGE)).toBe(true);
    expect(seen).toHaveLength(3);
  });

  it('a write that fails ends the download with a write failure, without another try', async () => {
    const { url, seen } = await serve((req, res) => sendRange(req, res, LARGE));
    let writes = 0;
    const full: DownloadSink = {
      held: 0,
      readHeld: async function* () {},
      write: () => (++writes === 3 ? Promise.reject(new Error('ENOSPC: no space left on device')) : Promise.resolve()),
      rewind: () => Promise.resolve(true),
      end: () => Promise.resolve(),
      destroy: () => {},
    };
    const r = await client().download(`${url}/blob`, full, { expected: { size: LARGE.length }, retry: QUICK_RETRY });
    expect(failure(r)).toMatchObject({ reason: 'write', message: expect.stringMatching(/ENOSPC/) as unknown });
    expect(seen).toHaveLength(1);
  });
  it('a write that fails while the connection is cut: the write failure ends it, not a resume over bytes that are not on disk', async () => {
    const { url, seen } = await serve((req, res, n) => (n === 0 ? cutAfter(res, 2_500_000, LARGE) : sendRange(req, res, LARGE)));
    let writes = 0;
    const failsLate: DownloadSink = {
      held: 0,
      readHeld: async function* () {},
      // The second write fails after the cut has been seen.
      write: () => (++writes === 2 ? new Promise((_, reject) => setTimeout(() => reject(new Error('EIO: i/o error')), 300)) : Promise.resolve()),
      rewind: () => Promise.resolve(true),
      end: () => Promise.resolve(),
      destroy: () => {},
    };
    const r = await client().download(`${url}/blob`, failsLate, { expected: { size: LARGE.length }, retry: QUICK_RETRY });
    expect(failure(r)).toMatchObject({ reason: 'write', message: expect.stringMatching(/EIO/) as unknown });
    expect(seen).toHaveLength(1);
  });
});

describe('direct reads over TLS', () => {
  const key = readFileSync(join(FIXTURES, 'tls/localhost-key.pem'));
  const cert = readFileSync(join(FIXTURES, 'tls/localhost-cert.pem'));

  it('checks the certificate, and reads the body through TLS', async () => {
    const server = createHttpsServer({ key, cert }, (req, res) => sendRange(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `https://localhost:${(server.address() as AddressInfo).port}/blob`;
    const c = clientOf(FAST, {}, 0);
    const untrusted = failure(await c.download(url, await fileSink(await target()), { retry: { retries: 0 } }));
    expect(untrusted).toMatchObject({ reason: 'connection', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    // This self-signed certificate trusted for one download (node reads the variable at each connection).
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const file = await target();
      const r = await c.download(url, await fileSink(file), { expected: { sha256: SHA } });
      expect(r.ok).toBe(true);
      expect(await readFile(file)).toEqual(BODY);
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  });
});

/** A server on 127.0.0.1 that answers each connection with raw bytes, once the request has arrived. */
async function rawServer(answer: (socket: Socket) => void): Promise<string> {
  const server = createNetServer((socket) => socket.once('data', () => answer(socket)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('PUT and small requests', () => {
  const client = () => clientOf();

  it('PUT streams a body with its Content-Length; a refusal is an http-status failure', async () => {
    const { url, seen } = await serve((_req, res, n) => res.writeHead(n === 0 ? 201 : 413).end());
    const c = client();
    expect((await c.put(`${url}/cas/x`, { stream: Readable.from([BODY.subarray(0, 100_000), BODY.subarray(100_000)]), length: BODY.length })).ok).toBe(true);
    expect(seen[0]).toMatchObject({ method: 'PUT', length: String(BODY.length), body: BODY.length });
    expect(failure(await c.put(`${url}/cas/y`, Buffer.from('small')))).toMatchObject({ reason: 'http-status', status: 413 });
  });

  it('HEAD answers any status; a small GET has a size limit; a refused connection names its code', async () => {
    const { url } = await serve((req, res) => (req.url === '/missing' ? res.writeHead(404).end() : res.end(BODY)));
    const c = client();
    const head = await c.head(`${url}/missing`);
    expect(head.ok && head.value.status).toBe(404);
    const small = await c.getSmall(`${url}/x`, { limit: 1 << 20 });
    expect(small.ok && small.value.body).toEqual(BODY);
    expect(failure(await c.getSmall(`${url}/x`, { limit: 1000 }))).toMatchObject({ reason: 'too-large', limit: 1000 });
    expect(failure(await c.getSmall(`${url}/missing`, { limit: 1000 }))).toMatchObject({ reason: 'http-status', status: 404 });
    const refused = await refusedPort();
    expect(failure(await c.head(`http://127.0.0.1:${refused}/x`))).toMatchObject({ reason: 'connection', code: 'ECONNREFUSED' });
  });
});

/** A port on 127.0.0.1 nothing listens on. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A port on 127.0.0.1 whose listener never accepts and whose queue is full: a connect there hangs. */
async function unansweredPort(): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const server = require('node:net').createServer();
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      Atomics.wait(new Int32Array(workerData), 0, 0); // blocks this thread: nothing is accepted
    });`;
  const shared = new SharedArrayBuffer(4);
  const worker = new Worker(code, { eval: true, workerData: shared });
  const port = await new Promise<number>((r) => worker.once('message', r));
  const fillers: Socket[] = [];
  for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
  await new Promise((r) => setTimeout(r, 200));
  cleanups.push(async () => {
    for (const f of fillers) f.destroy();
    Atomics.notify(new Int32Array(shared), 0);
    await worker.terminate();
  });
  return port;
}
