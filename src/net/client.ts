// A client with its own keep-alive sockets, headers sent with every request and timeouts: the
// small requests (HEAD, GET of a small body), PUT with a streamed body, and the resumable GET.
import { Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { err, ok, type Result } from '../result.js';
import { directExchange } from './direct.js';
import { download, type DownloadOptions, type Downloaded } from './download.js';
import { exchange, type Agents, type ExchangeRequest, type StreamBody, type Timeouts } from './exchange.js';
import { statusFailure, type NetFailure } from './failure.js';
import type { DownloadSink } from './sink.js';

export interface HttpClientOptions {
  /** Sent with every request (credentials). */
  headers?: Record<string, string>;
  timeouts: Timeouts;
  /** Sockets open at once per host. */
  maxSockets?: number;
  /**
   * Downloads expected to be at least this many bytes are read straight from a connection of
   * their own (direct.ts): fewer copies, no pooled socket. Smaller or unknown sizes reuse the pool.
   */
  directFrom?: number;
}

/** A 4 MiB body takes long enough on any link that opening a connection for it costs nothing. */
const DIRECT_FROM = 4 << 20;

export interface RequestOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A response whose body was read or dropped. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

export interface SmallBody extends Answer {
  body: Buffer;
}

export class HttpClient {
  private readonly agents: Agents;
  private readonly headers: Record<string, string>;
  private readonly timeouts: Timeouts;
  private readonly directFrom: number;

  constructor(opts: HttpClientOptions) {
    const maxSockets = opts.maxSockets ?? 32;
    this.agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets }) };
    this.headers = opts.headers ?? {};
    this.timeouts = opts.timeouts;
    this.directFrom = opts.directFrom ?? DIRECT_FROM;
  }

  /** Any status is an answer (a HEAD asks a question; 404 is a reply). */
  async head(url: string, opts: RequestOptions = {}): Promise<Result<Answer, NetFailure>> {
    const answer = await exchange(this.request('HEAD', url, opts));
    if (!answer.ok) return answer;
    answer.value.discard();
    return ok({ status: answer.value.status, headers: answer.value.headers });
  }

  /** A small body read whole (records, results), up to `limit` bytes; a status other than 2xx is a failure. */
  async getSmall(url: string, opts: RequestOptions & { limit: number }): Promise<Result<SmallBody, NetFailure>> {
    const answer = await exchange(this.request('GET', url, opts));
    if (!answer.ok) return answer;
    const res = answer.value;
    if (!is2xx(res.status)) {
      res.discard();
      return err(statusFailure(res.status));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const read = await res.read((chunk) => {
      size += chunk.length;
      if (size > opts.limit)
        return { reason: 'too-large', limit: opts.limit, message: `a response over ${opts.limit} bytes where a small one was expected` } satisfies NetFailure;
      chunks.push(chunk);
      return undefined;
    });
    if (!read.ok) return read;
    return ok({ status: res.status, headers: res.headers, body: Buffer.concat(chunks) });
  }

  /** Sends a body (a stream with its length, for large ones); a status other than 2xx is a failure. */
  async put(url: string, body: Buffer | StreamBody, opts: RequestOptions = {}): Promise<Result<Answer, NetFailure>> {
    const answer = await exchange({ ...this.request('PUT', url, opts), body });
    if (!answer.ok) return answer;
    answer.value.discard();
    if (!is2xx(answer.value.status)) return err(statusFailure(answer.value.status));
    return ok({ status: answer.value.status, headers: answer.value.headers });
  }

  /** The resumable, verified GET of a body into a sink (see download.ts). */
  download(url: string, sink: DownloadSink, opts: DownloadOptions = {}): Promise<Result<Downloaded, NetFailure>> {
    const base = this.request('GET', url, opts);
    const once = (opts.expected?.size ?? 0) >= this.directFrom ? directExchange : undefined;
    return download((extra) => exchange({ ...base, headers: { ...base.headers, ...extra } }, once), sink, opts);
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private request(method: string, url: string, opts: RequestOptions): ExchangeRequest {
    return {
      method,
      url: new URL(url),
      headers: { ...this.headers, ...opts.headers },
      timeouts: this.timeouts,
      agents: this.agents,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
  }
}

function is2xx(status: number): boolean {
  return status >= 200 && status < 300;
}
