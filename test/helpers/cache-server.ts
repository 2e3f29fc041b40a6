// An in-process Bazel HTTP cache (cas/ and ac/ with HEAD, GET, PUT and Range) whose faults a test
// turns on: corrupted blobs, refused or failing PUTs and GETs, a connection cut mid-GET, a slow server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CacheFaults {
  /** GETs of blobs over 1000 bytes (outputs, not records) answer other bytes. */
  corrupt?: boolean;
  /** Status for every PUT (e.g. 500, 413). */
  putStatus?: number;
  /** Status for every GET and HEAD (e.g. 500): a server that fails reads. */
  getStatus?: number;
  /** The first GET of each blob over this size is cut after half of it. */
  cutOnce?: boolean;
  /** Every response waits this long before its first byte. */
  delayMs?: number;
  /** GETs of blobs over 1000 bytes send the headers and half the body, then nothing (the connection stays open). */
  stall?: boolean;
}

export class CacheServer {
  readonly entries = new Map<string, Buffer>();
  readonly requests: { method: string; path: string; range?: string; status: number }[] = [];
  faults: CacheFaults = {};
  private readonly cut = new Set<string>();
  private readonly stalled = new Set<ServerResponse>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const log = (status: number) => this.requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}), status });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        if (req.method === 'PUT') {
          const status = this.faults.putStatus ?? 200;
          if (status < 300) this.entries.set(path, Buffer.concat(chunks));
          log(status);
          res.writeHead(status).end();
          return;
        }
        if (this.faults.getStatus !== undefined) {
          log(this.faults.getStatus);
          res.writeHead(this.faults.getStatus).end();
          return;
        }
        const body = this.entries.get(path);
        if (!body) {
          log(404);
          res.writeHead(404).end();
          return;
        }
        if (req.method === 'HEAD') {
          log(200);
          res.writeHead(200, { 'content-length': body.length }).end();
          return;
        }
        const data = this.faults.corrupt && path.includes('/cas/') && body.length > 1000 ? Buffer.from(body.map((b) => b ^ 0xff)) : body;
        const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        if (range) {
          const from = Number(range[1]);
          log(206);
          res.writeHead(206, { 'content-length': data.length - from, 'content-range': `bytes ${from}-${data.length - 1}/${data.length}` });
          res.end(data.subarray(from));
          return;
        }
        log(200);
        res.writeHead(200, { 'content-length': data.length });
        if (this.faults.stall && path.includes('/cas/') && data.length > 1000) {
          this.stalled.add(res);
          res.write(data.subarray(0, data.length >> 1));
          return;
        }
        if (this.faults.cutOnce && path.includes('/cas/') && data.length > 1000 && !this.cut.has(path)) {
          this.cut.add(path);
          res.write(data.subarray(0, data.length >> 1), () => res.destroy());
          return;
        }
        res.end(data);
      }, this.faults.delayMs ?? 0);
    });
  }
}
