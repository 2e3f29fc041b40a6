// A local HTTP server speaking the Hugging Face hub endpoints that @huggingface/hub and mlc-build
// call: revision info, tree listing, and resolve (with Range, ETag and the LFS headers). Faults can
// be injected per file; every request is logged with the bytes sent.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  repo: string;
  /** Branch or tag name → commit. */
  refs: Record<string, string>;
  /** Files by path at the (single) commit. Files over 1 KiB are served as LFS files. */
  files: Record<string, Buffer>;
  /** Requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra paths listed in the tree (e.g. "../../escape.txt"), served as small files. */
  extraListed?: string[];
}

export type Fault = 'reset-once' | '500-once' | 'corrupt-once' | 'corrupt-always' | 'slow';

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  status: number;
  bytes: number;
}

const LFS_THRESHOLD = 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class HubServer {
  readonly requests: LoggedRequest[] = [];
  readonly faults = new Map<string, Fault>();
  private server: Server | undefined;
  url = '';

  constructor(readonly repos: HubRepo[]) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Bytes of file content sent for paths ending with `suffix`. */
  bytesSent(suffix: string): number {
    return this.requests.filter((r) => r.path.endsWith(suffix) && r.path.includes('/resolve/')).reduce((n, r) => n + r.bytes, 0);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const path = decodeURIComponent(url.pathname);
    const log: LoggedRequest = { method: req.method ?? 'GET', path, range: req.headers.range, auth: req.headers.authorization, status: 200, bytes: 0 };
    this.requests.push(log);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = this.repos.find((r) => r.repo === (api?.[1] ?? resolve?.[1]));
    if (!repo) {
      send(404, { error: 'Repository not found' });
      return;
    }
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      send(401, { error: 'Access to model is restricted. You must have access to it and be authenticated to access it.' });
      return;
    }
    const rev = api?.[3] ?? resolve?.[2] ?? '';
    const commit = /^[0-9a-f]{40}$/.test(rev) && Object.values(repo.refs).includes(rev) ? rev : repo.refs[rev];
    if (!commit) {
      send(404, { error: `Revision Not Found for url: ${path}` });
      return;
    }
    const all = { ...repo.files, ...Object.fromEntries((repo.extraListed ?? []).map((p) => [p, Buffer.from('outside')])) };
    if (api?.[2] === 'revision') {
      send(200, {
        _id: `id-${repo.repo}`,
        id: repo.repo,
        sha: commit,
        private: false,
        gated: repo.token ? 'manual' : false,
        downloads: 0,
        likes: 0,
        lastModified: '2025-01-01T00:00:00.000Z',
        siblings: Object.keys(all).map((rfilename) => ({ rfilename })),
      });
      return;
    }
    if (api?.[2] === 'tree') {
      send(
        200,
        Object.entries(all).map(([p, b]) => ({
          type: 'file',
          path: p,
          size: b.length,
          oid: gitOid(b),
          ...(b.length > LFS_THRESHOLD ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}),
        })),
      );
      return;
    }
    const filePath = resolve?.[3] ?? '';
    const content = repo.files[filePath];
    if (!content) {
      send(404, { error: 'Entry not found' });
      return;
    }
    const fault = this.faults.get(filePath);
    if (fault === '500-once') {
      this.faults.delete(filePath);
      send(500, { error: 'Internal Error' });
      return;
    }
    let body = content;
    if (fault === 'corrupt-once' || fault === 'corrupt-always') {
      body = Buffer.from(content);
      body[body.length - 1] = (body[body.length - 1] as number) ^ 0xff;
      if (fault === 'corrupt-once') this.faults.delete(filePath);
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const slice = body.subarray(start);
    const lfs = content.length > LFS_THRESHOLD;
    log.status = start > 0 ? 206 : 200;
    res.writeHead(log.status, {
      'content-type': 'application/octet-stream',
      'content-length': String(slice.length),
      etag: `"${lfs ? sha256(content) : gitOid(content)}"`,
      'x-repo-commit': commit,
      ...(lfs ? { 'x-linked-etag': `"${sha256(content)}"`, 'x-linked-size': String(content.length) } : {}),
      ...(start > 0 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      'accept-ranges': 'bytes',
    });
    if (fault === 'reset-once') {
      this.faults.delete(filePath);
      const half = slice.subarray(0, Math.floor(slice.length / 2));
      log.bytes = half.length;
      res.write(half, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    log.bytes = slice.length;
    if (fault === 'slow') {
      // 16 KiB every 20 ms.
      let off = 0;
      const tick = () => {
        if (res.destroyed) return;
        const part = slice.subarray(off, off + 16384);
        off += part.length;
        if (off >= slice.length) res.end(part);
        else res.write(part, () => setTimeout(tick, 20));
      };
      tick();
      return;
    }
    res.end(slice);
  }
}
