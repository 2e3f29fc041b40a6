// A GET whose body is read from the socket straight into a few reused 1 MiB buffers and lent to the
// reader in order, without a copy or a stream in between. node:http reads into a fresh 64 KiB
// buffer each time and passes it through a stream: on a fast link that costs about as much CPU as
// hashing the bytes, and on a 2-core machine the CPU is what limits a fetch. One connection per GET,
// closed at its end (no pool): meant for large bodies, where a handshake is nothing next to the
// transfer. The phases and their timeouts are those of exchange.ts.
import { validateHeaderName, validateHeaderValue, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { err, ok, type Result } from '../result.js';
import { ChunkedBody } from './chunked.js';
import type { ChunkVerdict, ExchangeRequest, OpenResponse } from './exchange.js';
import { abortedFailure, connectionFailure, timeoutFailure, type NetFailure } from './failure.js';

/** One read's worth: large enough that a read is rarely short of data, small enough to stay in cache while it is hashed. */
const BUFFER_SIZE = 1 << 20;
/** Chunks lent at once (their writes under way); the socket is not read while that many are out. */
const MAX_LENT = 4;
/** A response head longer than this is not one. */
const MAX_HEAD = 64 << 10;
const HEAD_END = Buffer.from('\r\n\r\n');

type Framing = { kind: 'length'; left: number } | { kind: 'chunked'; body: ChunkedBody } | { kind: 'until-close' };

interface Head {
  status: number;
  headers: IncomingHttpHeaders;
}

type OnChunk = (chunk: Buffer) => Promise<ChunkVerdict> | ChunkVerdict;

/** Sends a GET (no body) on a connection of its own; the response once its head has arrived. */
export function directExchange(r: ExchangeRequest): Promise<Result<OpenResponse, NetFailure>> {
  if (r.method !== 'GET' || r.body !== undefined) throw new Error('directExchange sends GETs without a body only');
  if (r.signal?.aborted) return Promise.resolve(err(abortedFailure()));
  return new Promise((resolve) => {
    new DirectGet(r, resolve).start();
  });
}

class DirectGet {
  private socket: Socket | undefined;
  private readonly free: Buffer[] = [];
  /** How many lent chunks each buffer has out. */
  private readonly lentOf = new Map<Buffer, number>();
  private lent = 0;
  private paused = false;
  /** Head bytes of earlier reads (copied: their buffers are reused). */
  private headSoFar = Buffer.alloc(0);
  private head: Head | undefined;
  private framing: Framing | undefined;
  /** Body chunks that arrived before anyone read the body. */
  private readonly waiting: { chunk: Buffer; buffer: Buffer }[] = [];
  private onChunk: OnChunk | undefined;
  private bodyBytes = 0;
  private complete = false;
  private failure: NetFailure | undefined;
  private phaseTimer: NodeJS.Timeout | undefined;
  private finished: ((r: Result<void, NetFailure>) => void) | undefined;

  constructor(
    private readonly r: ExchangeRequest,
    private readonly answered: (r: Result<OpenResponse, NetFailure>) => void,
  ) {}

  start(): void {
    const { url, timeouts } = this.r;
    const request = this.requestHead(); // checks the headers before anything is opened
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const https = url.protocol === 'https:';
    const port = Number(url.port) || (https ? 443 : 80);
    const onread: OnReadOpts = { buffer: () => this.free.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE), callback: (n, b) => this.onRead(n, asBuffer(b)) };
    // tls.connect takes onread too (node's docs), though its type does not say so.
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = { host, port, ALPNProtocols: ['http/1.1'], onread };
    if (isIP(host) === 0) tlsOptions.servername = host;
    const socket = https ? tlsConnect(tlsOptions) : netConnect({ host, port, onread });
    this.socket = socket;
    this.r.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.phaseTimer = setTimeout(() => this.fail(timeoutFailure('connect', timeouts.connectMs)), timeouts.connectMs);
    socket.once('connect', () => {
      clearTimeout(this.phaseTimer);
      socket.setTimeout(timeouts.idleMs);
    });
    socket.on('timeout', () => this.fail(timeoutFailure('idle', timeouts.idleMs)));
    socket.on('error', (e) => this.fail(connectionFailure(e)));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onEnd());
    socket.write(request, () => this.awaitHead());
  }

  private requestHead(): string {
    const lines = [`GET ${this.r.url.pathname}${this.r.url.search} HTTP/1.1`, `host: ${this.r.url.host}`];
    for (const [name, value] of Object.entries(this.r.headers)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
      if (!/^(host|connection)$/i.test(name)) lines.push(`${name}: ${value}`);
    }
    return `${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`;
  }

  /** The request is out: the answer has firstByteMs to come. */
  private awaitHead(): void {
    if (this.head || this.failure) return;
    this.socket?.setTimeout(0);
    const ms = this.r.timeouts.firstByteMs;
    this.phaseTimer = setTimeout(() => this.fail(timeoutFailure('first-byte', ms)), ms);
  }

  /** A read landed in `buffer`: the head, then body chunks. False stops reading (all buffers lent, or nobody reads yet). */
  private onRead(n: number, buffer: Buffer): boolean {
    const data = buffer.subarray(0, n);
    if (!this.head) this.takeHead(data, buffer);
    else this.takeBody(data, buffer);
    if (!this.lentOf.has(buffer)) this.release(buffer);
    this.paused = this.head !== undefined && !this.failure && !this.complete && (this.onChunk === undefined || this.lent >= MAX_LENT);
    return !this.paused;
  }

  private takeHead(data: Buffer, buffer: Buffer): void {
    const seen = this.headSoFar.length;
    const joined = seen > 0 ? Buffer.concat([this.headSoFar, data]) : data;
    const end = joined.indexOf(HEAD_END, Math.max(0, seen - 3));
    if (end < 0) {
      if (joined.length > MAX_HEAD) this.fail(protocolFailure(`a response head over ${MAX_HEAD} bytes`));
      else this.headSoFar = Buffer.from(joined);
      return;
    }
    this.headSoFar = Buffer.alloc(0);
    const head = parseHead(joined.subarray(0, end).toString('latin1'));
    if (!head) {
      this.fail(protocolFailure('a response head that is not HTTP/1.x'));
      return;
    }
    const rest = data.subarray(end + HEAD_END.length - seen);
    // An interim answer (100 Continue): the real one follows.
    if (head.status >= 100 && head.status < 200) {
      if (rest.length > 0) this.takeHead(rest, buffer);
      return;
    }
    this.answer(head);
    if (rest.length > 0 || this.framing?.kind === 'length') this.takeBody(rest, buffer);
  }

  private answer(head: Head): void {
    const framing = framingOf(head);
    if (!framing) {
      this.fail(protocolFailure(`a content-length that is not a number (${String(head.headers['content-length'])})`));
      return;
    }
    clearTimeout(this.phaseTimer);
    this.socket?.setTimeout(this.r.timeouts.idleMs);
    this.head = head;
    this.framing = framing;
    this.answered(ok(this.response(head)));
  }

  private response(head: Head): OpenResponse {
    return {
      status: head.status,
      headers: head.headers,
      url: this.r.url,
      read: (onChunk) =>
        new Promise((resolve) => {
          this.finished = resolve;
          this.onChunk = onChunk;
          for (const w of this.waiting.splice(0)) this.lend(w.chunk, w.buffer);
          this.settleIfDone();
          this.resumeIfRoom();
        }),
      discard: () => {
        this.fail({ reason: 'aborted', message: 'the body was not wanted' });
      },
    };
  }

  /** Body bytes as they come, cut to the response's framing. */
  private takeBody(data: Buffer, buffer: Buffer): void {
    const framing = this.framing;
    if (!framing || this.complete || this.failure) return;
    switch (framing.kind) {
      case 'length': {
        const mine = data.subarray(0, framing.left);
        framing.left -= mine.length;
        if (mine.length > 0) this.bodyChunk(mine, buffer);
        if (framing.left === 0) this.done();
        return;
      }
      case 'chunked': {
        const state = framing.body.feed(data, (chunk) => this.bodyChunk(chunk, buffer));
        if (state === 'malformed') this.fail(protocolFailure('a malformed chunked body'));
        else if (state === 'done') this.done();
        return;
      }
      case 'until-close':
        if (data.length > 0) this.bodyChunk(data, buffer);
        return;
    }
  }

  private bodyChunk(chunk: Buffer, buffer: Buffer): void {
    this.bodyBytes += chunk.length;
    this.lentOf.set(buffer, (this.lentOf.get(buffer) ?? 0) + 1);
    if (this.onChunk) this.lend(chunk, buffer);
    else this.waiting.push({ chunk, buffer });
  }

  /** Hands a chunk to the reader; its buffer is not reused until the reader is done with it. */
  private lend(chunk: Buffer, buffer: Buffer): void {
    const onChunk = this.onChunk;
    if (!onChunk) return;
    this.lent++;
    let verdict: Promise<ChunkVerdict> | ChunkVerdict;
    try {
      verdict = onChunk(chunk);
    } catch (e) {
      verdict = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (verdict instanceof Promise)
      verdict.then(
        (v) => this.giveBack(buffer, v),
        (e: unknown) => this.giveBack(buffer, { reason: 'write', message: e instanceof Error ? e.message : String(e) }),
      );
    else this.giveBack(buffer, verdict);
  }

  private giveBack(buffer: Buffer, verdict: ChunkVerdict): void {
    this.lent--;
    const left = (this.lentOf.get(buffer) ?? 1) - 1;
    if (left > 0) this.lentOf.set(buffer, left);
    else {
      this.lentOf.delete(buffer);
      this.release(buffer);
    }
    if (verdict) this.fail(verdict);
    this.settleIfDone();
    this.resumeIfRoom();
  }

  /** Free for the next read (once: a buffer listed twice would be read into twice). */
  private release(buffer: Buffer): void {
    if (!this.free.includes(buffer)) this.free.push(buffer);
  }

  private resumeIfRoom(): void {
    if (!this.paused || this.lent >= MAX_LENT || this.complete || this.failure) return;
    this.paused = false;
    this.socket?.resume();
  }

  /** The whole body has arrived: the connection has nothing more to give. */
  private done(): void {
    this.complete = true;
    this.close();
    this.settleIfDone();
  }

  private onEnd(): void {
    if (this.complete || this.failure) return;
    if (this.head && this.framing?.kind === 'until-close') {
      this.done();
      return;
    }
    const message = this.head ? `the connection closed after ${this.bodyBytes} bytes of the response` : 'the connection closed before a response';
    this.fail({ reason: 'connection', code: 'ECONNRESET', message });
  }

  private readonly onAbort = () => this.fail(abortedFailure());

  /** The first failure is the one told; before the head it is the exchange's answer. */
  private fail(failure: NetFailure): void {
    if (this.complete || this.failure) return;
    this.failure = failure;
    this.close();
    if (!this.head) this.answered(err(failure));
    this.settleIfDone();
  }

  private close(): void {
    clearTimeout(this.phaseTimer);
    this.r.signal?.removeEventListener('abort', this.onAbort);
    this.socket?.destroy();
  }

  /** read() ends once the body is whole or has failed, and every lent chunk is back. */
  private settleIfDone(): void {
    const finished = this.finished;
    if (!finished || this.lent > 0 || (!this.complete && !this.failure)) return;
    this.finished = undefined;
    finished(this.failure ? err(this.failure) : ok(undefined));
  }
}

/** The buffer onread was given back (node passes the very object; its type says Uint8Array). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function protocolFailure(what: string): NetFailure {
  return { reason: 'connection', code: 'EPROTO', message: `the server sent ${what}` };
}

/** Status and headers (names in lower case, repeated ones joined as node:http does), or undefined if it is not a response head. */
function parseHead(text: string): Head | undefined {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine)?.[1];
  if (status === undefined) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const field = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!field) return undefined;
    const name = (field[1] ?? '').toLowerCase();
    const value = field[2] ?? '';
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return { status: Number(status), headers: Object.fromEntries(headers) };
}

/** How the body's end is known (RFC 9112 §6.3); undefined for a content-length that is not a number. */
function framingOf({ status, headers }: Head): Framing | undefined {
  if (status === 204 || status === 304) return { kind: 'length', left: 0 };
  const coding = headers['transfer-encoding'];
  if (typeof coding === 'string') return /(^|,)\s*chunked\s*$/i.test(coding) ? { kind: 'chunked', body: new ChunkedBody() } : { kind: 'until-close' };
  const length = headers['content-length'];
  if (length === undefined) return { kind: 'until-close' };
  return typeof length === 'string' && /^\d+$/.test(length) ? { kind: 'length', left: Number(length) } : undefined;
}
