// One request and its response on node's own http/https, watched phase by phase: connecting
// (connect timeout), waiting for the answer once the request is sent (first-byte timeout), and
// moving bytes both ways (idle timeout). There is no deadline for a whole transfer: a 10 GB body
// on a slow link is fine as long as bytes keep moving.
import { request as httpRequest, type Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { err, ok, type Result } from '../result.js';
import { abortedFailure, connectionFailure, timeoutFailure, type NetFailure } from './failure.js';

export interface Timeouts {
  /** From opening a socket to its connection. */
  connectMs: number;
  /** From the request sent (its body included) to the response's headers. */
  firstByteMs: number;
  /** No byte moving either way, while sending the body or reading the response. */
  idleMs: number;
}

/** A body too large to hold in memory, with its length (servers want Content-Length for PUT). */
export interface StreamBody {
  stream: Readable;
  length: number;
}

export interface Agents {
  http: HttpAgent;
  https: HttpsAgent;
}

export interface ExchangeRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer | StreamBody;
  signal?: AbortSignal;
  timeouts: Timeouts;
  agents: Agents;
  /** Redirects followed (GET and HEAD only: a streamed body cannot be sent twice). */
  maxRedirects?: number;
}

/** A body handler's verdict: go on, or stop with this failure. */
export type ChunkVerdict = NetFailure | undefined;

export interface OpenResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Where the answer came from, after redirects. */
  url: URL;
  /**
   * Reads the body to its end; a cut, an idle timeout, an abort or the handler's failure is a value.
   * Each chunk is lent: it may be reused once the handler's promise settles, and the next chunk
   * may come before that (so a handler does its ordered work before it returns a promise).
   * It resolves once every handler's promise has settled.
   */
  read(onChunk: (chunk: Buffer) => Promise<ChunkVerdict> | ChunkVerdict): Promise<Result<void, NetFailure>>;
  /** Drops the body (the socket goes back to the pool once the body has gone by). */
  discard(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One request and its response, without following redirects. */
export type SendOnce = (request: ExchangeRequest) => Promise<Result<OpenResponse, NetFailure>>;

/** Sends a request, following redirects for GET and HEAD (as fetch's redirect: 'follow'). */
export async function exchange(request: ExchangeRequest, once: SendOnce = exchangeOnce): Promise<Result<OpenResponse, NetFailure>> {
  let current = request;
  for (let hops = 0; ; hops++) {
    const answer = await once(current);
    if (!answer.ok) return answer;
    const res = answer.value;
    const location = res.headers.location;
    const follows = (current.method === 'GET' || current.method === 'HEAD') && REDIRECTS.has(res.status) && location !== undefined;
    if (!follows) return answer;
    res.discard();
    if (hops >= (request.maxRedirects ?? 5))
      return err({ reason: 'http-status', status: res.status, message: `more than ${hops} redirects from ${request.url.host}` });
    const next = new URL(location, current.url);
    // A CDN's signed URL needs no credentials, and must not be handed the hub's.
    const headers = next.origin === current.url.origin ? current.headers : withoutAuthorization(current.headers);
    current = { ...current, url: next, headers };
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
}

function exchangeOnce(r: ExchangeRequest): Promise<Result<OpenResponse, NetFailure>> {
  return new Promise((resolve) => {
    if (r.signal?.aborted) {
      resolve(err(abortedFailure()));
      return;
    }
    const https = r.url.protocol === 'https:';
    const length = r.body === undefined ? undefined : r.body.length;
    const req = (https ? httpsRequest : httpRequest)(r.url, {
      method: r.method,
      agent: https ? r.agents.https : r.agents.http,
      headers: { ...r.headers, ...(length !== undefined ? { 'content-length': String(length) } : {}) },
    });
    /** Why we destroyed the request, when we did: it names the failure better than the socket's error. */
    let cause: NetFailure | undefined;
    let phaseTimer: NodeJS.Timeout | undefined;
    let settled = false;
    let connected = false;
    let sent = false;
    const stop = (failure: NetFailure) => {
      cause ??= failure;
      req.destroy();
    };
    const onAbort = () => {
      stop(abortedFailure());
    };
    const cleanup = () => {
      clearTimeout(phaseTimer);
      r.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: unknown) => {
      cleanup();
      if (settled) return;
      settled = true;
      resolve(err(cause ?? connectionFailure(e)));
    };
    // The answer is awaited only once the request is out and the socket connected.
    const startWaiting = () => {
      if (!connected || !sent || settled) return;
      req.setTimeout(0);
      phaseTimer = setTimeout(() => {
        stop(timeoutFailure('first-byte', r.timeouts.firstByteMs));
      }, r.timeouts.firstByteMs);
    };
    r.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('timeout', () => {
      stop(timeoutFailure('idle', r.timeouts.idleMs));
    });
    req.on('socket', (socket) => {
      const onConnected = () => {
        clearTimeout(phaseTimer);
        connected = true;
        req.setTimeout(r.timeouts.idleMs);
        startWaiting();
      };
      if (!socket.connecting) {
        onConnected();
        return;
      }
      phaseTimer = setTimeout(() => {
        stop(timeoutFailure('connect', r.timeouts.connectMs));
      }, r.timeouts.connectMs);
      socket.once('connect', onConnected);
    });
    req.on('finish', () => {
      sent = true;
      startWaiting();
    });
    req.on('error', fail);
    req.on('close', () => {
      fail(new Error('the connection closed before a response'));
    });
    req.on('response', (res) => {
      clearTimeout(phaseTimer);
      req.setTimeout(r.timeouts.idleMs);
      settled = true;
      resolve(ok(openResponse(res, r.url, () => cause, cleanup)));
    });
    sendBody(req, r.body);
  });
}

function sendBody(req: ReturnType<typeof httpRequest>, body: ExchangeRequest['body']): void {
  if (body === undefined) req.end();
  else if (Buffer.isBuffer(body)) req.end(body);
  else {
    body.stream.on('error', (e) => req.destroy(e));
    body.stream.pipe(req);
  }
}

function openResponse(res: IncomingMessage, url: URL, cause: () => NetFailure | undefined, cleanup: () => void): OpenResponse {
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url,
    async read(onChunk) {
      let bytes = 0;
      try {
        for await (const chunk of res) {
          if (!Buffer.isBuffer(chunk)) continue;
          bytes += chunk.length;
          const verdict = await onChunk(chunk);
          if (verdict) {
            res.destroy();
            return err(verdict);
          }
        }
      } catch (e) {
        return err(cause() ?? connectionFailure(e, `the connection closed after ${bytes} bytes of the response`));
      } finally {
        cleanup();
      }
      // A destroyed response (an idle timeout, a reset) can end the loop early without an error.
      if (!res.complete)
        return err(cause() ?? { reason: 'connection', code: 'ECONNRESET', message: `the connection closed after ${bytes} bytes of the response` });
      return ok(undefined);
    },
    discard() {
      res.on('end', cleanup);
      res.on('close', cleanup);
      res.resume();
    },
  };
}
