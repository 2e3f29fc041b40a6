// A small HTTP client for the cache protocol: streaming bodies both ways, keep-alive sockets, and
// two timeouts that suit large transfers — connect, and idle (no byte moving) — never a deadline
// for a whole transfer, which would kill a 10 GB upload on a slow link.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Must be read to its end or destroyed. */
  body: IncomingMessage;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A small body, or a stream (with its length: servers want Content-Length for PUT). */
  body?: Buffer | { stream: Readable; length: number };
}

export class HttpClient {
  private readonly agent: HttpAgent;
  private readonly https: boolean;

  constructor(
    private readonly base: string,
    private readonly headers: Record<string, string>,
    private readonly timeouts: { connectMs: number; idleMs: number },
  ) {
    this.https = base.startsWith('https:');
    this.agent = this.https ? new HttpsAgent({ keepAlive: true, maxSockets: 32 }) : new HttpAgent({ keepAlive: true, maxSockets: 32 });
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const url = new URL(this.base + path);
      const body = opts.body;
      const length = body === undefined ? undefined : Buffer.isBuffer(body) ? body.length : body.length;
      const req = (this.https ? httpsRequest : httpRequest)(url, {
        method,
        agent: this.agent,
        headers: { ...this.headers, ...opts.headers, ...(length !== undefined ? { 'content-length': String(length) } : {}) },
      });
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => req.destroy(new Error(`no connection after ${seconds(this.timeouts.connectMs)}`)), this.timeouts.connectMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      req.setTimeout(this.timeouts.idleMs, () => req.destroy(new Error(`no data for ${seconds(this.timeouts.idleMs)}`)));
      req.on('error', fail);
      req.on('response', (res) => {
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.stream.on('error', (e) => req.destroy(e));
        body.stream.pipe(req);
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Reads a response body whole (for small bodies: action results, records), up to `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.body.destroy();
      throw new Error(`a response over ${limit} bytes where a small one was expected`);
    }
    chunks.push(chunk);
  }
  // A destroyed response (an idle timeout, a reset) can end the loop early without an error.
  if (!res.body.complete) throw new Error(`the connection closed after ${size} bytes of the response`);
  return Buffer.concat(chunks);
}

/** Drops a response body we do not need (keeps the socket for the next request). */
export function discard(res: HttpResponse): void {
  res.body.resume();
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
