// A local HTTP server speaking the Hugging Face hub endpoints that @huggingface/hub and mlc-build
// call: revision info, tree listing, paths-info and resolve (with Range, ETag and the LFS headers)
// for downloads; whoami, repo creation, preupload, the LFS batch API (basic transfer, upload URLs on
// a second "storage" origin that refuses an Authorization header, as presigned storage does), the
// upload PUT and the NDJSON commit with its parentCommit check for publishing. Commits are kept, so
// any revision resolves. Faults can be injected per file, per uploaded object and per repository;
// every request is logged with the bytes sent.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  repo: string;
  /** Branch or tag name → commit. */
  refs: Record<string, string>;
  /** Files by path at the head (the single commit of a repository made by a test). Files over 1 KiB are LFS files. */
  files: Record<string, Buffer>;
  /** Requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra paths listed in the tree (e.g. "../../escape.txt"), served as small files. */
  extraListed?: string[];
  /** Every commit made through the commit API (and at creation): commit → files. */
  commits?: Record<string, Record<string, Buffer>>;
  /** LFS objects received by upload, by sha256. */
  objects?: Map<string, Buffer>;
}

export type Fault = 'reset-once' | '500-once' | 'corrupt-once' | 'corrupt-always' | 'slow';
/** An upload PUT: answered 500 once; or held, never answered (the uploader is killed meanwhile). */
export type UploadFault = '500-once' | '429-once' | 'stall';

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  status: number;
  bytes: number;
}

export interface CommitLogEntry {
  repo: string;
  parent?: string;
  commit?: string;
  status: number;
  paths: string[];
  deleted: string[];
}

export interface HubServerOptions {
  /** The token publishing calls must carry (whoami, create, preupload, batch, commit); none: any. */
  token?: string;
  user?: string;
  orgs?: string[];
  role?: 'read' | 'write';
}

const LFS_THRESHOLD = 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const GITATTRIBUTES = Buffer.from(
  '*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.wasm filter=lfs diff=lfs merge=lfs -text\n',
);

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export class HubServer {
  readonly requests: LoggedRequest[] = [];
  readonly commitLog: CommitLogEntry[] = [];
  readonly faults = new Map<string, Fault>();
  readonly uploadFaults = new Map<string, UploadFault>();
  /** Repo → how many times its branch moves (a foreign commit) just before a commit is checked. */
  readonly moveBeforeCommit = new Map<string, number>();
  /** Called when a stalled upload has started. */
  onStall: ((oid: string) => void) | undefined;
  private server: Server | undefined;
  private storage: Server | undefined;
  private counter = 0;
  url = '';
  storageUrl = '';

  constructor(
    readonly repos: HubRepo[],
    readonly opts: HubServerOptions = {},
  ) {}

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e: unknown) => {
        res.writeHead(500);
        res.end(String(e));
      });
    };
    this.server = createServer(handler);
    this.storage = createServer(handler);
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => this.storage?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.storageUrl = `http://127.0.0.1:${(this.storage.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of [this.server, this.storage]) {
      s?.closeAllConnections();
      await new Promise<void>((r) => s?.close(() => r()));
    }
  }

  repo(name: string): HubRepo | undefined {
    return this.repos.find((r) => r.repo === name);
  }

  /** The files of a repository at a revision (a branch or a commit). */
  filesAt(name: string, rev = 'main'): Record<string, Buffer> | undefined {
    const repo = this.repo(name);
    const commit = repo && this.commitOf(repo, rev);
    return repo && commit ? this.treeOf(repo, commit) : undefined;
  }

  /** Bytes of file content sent for paths ending with `suffix`. */
  bytesSent(suffix: string): number {
    return this.requests.filter((r) => r.path.endsWith(suffix) && r.path.includes('/resolve/')).reduce((n, r) => n + r.bytes, 0);
  }

  private commitOf(repo: HubRepo, rev: string): string | undefined {
    if (/^[0-9a-f]{40}$/.test(rev) && (Object.values(repo.refs).includes(rev) || repo.commits?.[rev])) return rev;
    return repo.refs[rev];
  }

  private treeOf(repo: HubRepo, commit: string): Record<string, Buffer> {
    return repo.commits?.[commit] ?? repo.files;
  }

  private newCommit(repo: HubRepo, files: Record<string, Buffer>): string {
    const sha = createHash('sha1')
      .update(`${repo.repo} ${++this.counter} ${Object.keys(files).join(',')}`)
      .digest('hex');
    repo.commits = { ...repo.commits, [sha]: files };
    repo.refs.main = sha;
    repo.files = files;
    return sha;
  }

  /** Someone else commits to the repository: the branch moves. */
  foreignCommit(name: string, path = `foreign-${this.counter + 1}.txt`): string {
    const repo = this.repo(name);
    if (!repo) throw new Error(`no repository ${name}`);
    return this.newCommit(repo, { ...repo.files, [path]: Buffer.from(`written by another writer ${this.counter}\n`) });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = decodeURIComponent(url.pathname);
    const log: LoggedRequest = { method: req.method ?? 'GET', path, range: req.headers.range, auth: req.headers.authorization, status: 200, bytes: 0 };
    this.requests.push(log);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (path.startsWith('/lfs-upload/')) return this.upload(req, path, log, send);
    const publishing = /^\/api\/(whoami-v2|repos\/create|models\/[^/]+\/[^/]+\/(preupload|commit)\/)|\.git\/info\/lfs\//.test(path);
    if (publishing && this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      send(401, { error: 'Invalid credentials in Authorization header' });
      return;
    }
    if (path === '/api/whoami-v2') {
      send(200, this.whoami());
      return;
    }
    if (path === '/api/repos/create' && req.method === 'POST') return this.create(req, send);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree|paths-info|preupload|commit)\/([^/]+)$/.exec(path);
    const lfs = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = this.repo(api?.[1] ?? lfs?.[1] ?? resolve?.[1] ?? '');
    if (!repo) {
      send(404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      return;
    }
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      send(401, { error: 'Access to model is restricted. You must have access to it and be authenticated to access it.' });
      return;
    }
    if (lfs) return this.batch(req, repo, send);
    if (api?.[2] === 'commit') return this.commit(req, repo, send);
    if (api?.[2] === 'preupload') {
      const body = JSON.parse((await readBody(req)).toString()) as { files: { path: string; size: number }[] };
      send(200, { files: body.files.map((f) => ({ path: f.path, uploadMode: f.size > LFS_THRESHOLD ? 'lfs' : 'regular', shouldIgnore: false })) });
      return;
    }
    const rev = api?.[3] ?? resolve?.[2] ?? '';
    const commit = this.commitOf(repo, rev);
    if (!commit) {
      send(404, { error: `Revision Not Found for url: ${path}` }, { 'x-error-code': 'RevisionNotFound' });
      return;
    }
    const tree = this.treeOf(repo, commit);
    const all = { ...tree, ...Object.fromEntries((repo.extraListed ?? []).map((p) => [p, Buffer.from('outside')])) };
    const entry = (p: string, b: Buffer) => ({
      type: 'file',
      path: p,
      size: b.length,
      oid: gitOid(b),
      ...(b.length > LFS_THRESHOLD ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}),
    });
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
        Object.entries(all).map(([p, b]) => entry(p, b)),
      );
      return;
    }
    if (api?.[2] === 'paths-info') {
      const body = JSON.parse((await readBody(req)).toString()) as { paths: string[] };
      send(
        200,
        body.paths.flatMap((p) => (tree[p] ? [entry(p, tree[p])] : [])),
      );
      return;
    }
    this.resolve(req, res, log, send, { commit, filePath: resolve?.[3] ?? '', content: tree[resolve?.[3] ?? ''] });
  }

  private whoami() {
    const name = this.opts.user ?? 'tester';
    return {
      type: 'user',
      id: `id-${name}`,
      name,
      fullname: name,
      email: `${name}@example.com`,
      emailVerified: true,
      isPro: false,
      canPay: false,
      avatarUrl: '',
      periodEnd: null,
      billingMode: 'prepaid',
      orgs: (this.opts.orgs ?? ['org']).map((o) => ({
        type: 'org',
        id: `id-${o}`,
        name: o,
        fullname: o,
        email: null,
        canPay: false,
        avatarUrl: '',
        periodEnd: null,
      })),
      auth: { type: 'access_token', accessToken: { displayName: 'test', role: this.opts.role ?? 'write', createdAt: '2025-01-01T00:00:00.000Z' } },
    };
  }

  private async create(req: IncomingMessage, send: (status: number, body: unknown) => void): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString()) as { name: string; organization?: string };
    const name = `${body.organization ?? this.opts.user ?? 'tester'}/${body.name}`;
    if (this.repo(name)) {
      send(409, { error: 'You already created this model repo', url: `${this.url}/${name}` });
      return;
    }
    const repo: HubRepo = { repo: name, refs: {}, files: {}, objects: new Map() };
    this.repos.push(repo);
    this.newCommit(repo, { '.gitattributes': GITATTRIBUTES });
    send(200, { url: `${this.url}/${name}`, name });
  }

  private async batch(req: IncomingMessage, repo: HubRepo, send: (status: number, body: unknown) => void): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString()) as { operation: string; objects: { oid: string; size: number }[] };
    repo.objects ??= new Map();
    const have = repo.objects;
    send(200, {
      transfer: 'basic',
      objects: body.objects.map((o) =>
        have.has(o.oid)
          ? { oid: o.oid, size: o.size }
          : {
              oid: o.oid,
              size: o.size,
              authenticated: true,
              actions: { upload: { href: `${this.storageUrl}/lfs-upload/${repo.repo}/${o.oid}`, expires_in: 3600 } },
            },
      ),
    });
  }

  private async upload(
    req: IncomingMessage,
    path: string,
    log: LoggedRequest,
    send: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const m = /^\/lfs-upload\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(path);
    const repo = this.repo(m?.[1] ?? '');
    if (!m || !repo || req.method !== 'PUT') {
      send(404, { error: 'no such upload' });
      return;
    }
    const oid = m[2] as string;
    // Presigned storage: a second credential is an error.
    if (req.headers.authorization) {
      send(400, { error: 'Only one auth mechanism allowed' });
      return;
    }
    const fault = this.uploadFaults.get(oid);
    if (fault === 'stall') {
      this.onStall?.(oid);
      return; // never answered
    }
    const body = await readBody(req);
    log.bytes = body.length;
    if (fault === '500-once' || fault === '429-once') {
      this.uploadFaults.delete(oid);
      if (fault === '500-once') send(500, { error: 'Internal Error' });
      else send(429, { error: 'Too Many Requests' }, { 'retry-after': '1' });
      return;
    }
    if (sha256(body) !== oid) {
      send(400, { error: 'the body does not match its oid' });
      return;
    }
    repo.objects ??= new Map();
    repo.objects.set(oid, body);
    log.status = 200;
    send(200, '', { etag: `"${oid}"` });
  }

  private async commit(req: IncomingMessage, repo: HubRepo, send: (status: number, body: unknown, headers?: Record<string, string>) => void): Promise<void> {
    const lines = (await readBody(req))
      .toString()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { key: string; value: { path?: string; content?: string; oid?: string; parentCommit?: string } });
    const header = lines.find((l) => l.key === 'header')?.value;
    const entry: CommitLogEntry = { repo: repo.repo, parent: header?.parentCommit, status: 200, paths: [], deleted: [] };
    this.commitLog.push(entry);
    const moves = this.moveBeforeCommit.get(repo.repo) ?? 0;
    if (moves > 0) {
      this.moveBeforeCommit.set(repo.repo, moves - 1);
      this.foreignCommit(repo.repo);
    }
    if (header?.parentCommit !== undefined && header.parentCommit !== repo.refs.main) {
      entry.status = 412;
      send(412, { error: 'A commit has happened since. Please refresh and try again.' });
      return;
    }
    let files = { ...repo.files };
    for (const { key, value } of lines) {
      const p = value.path ?? '';
      if (key === 'file') files[p] = Buffer.from(value.content ?? '', 'base64');
      else if (key === 'lfsFile') {
        const object = repo.objects?.get(value.oid ?? '');
        if (!object) {
          entry.status = 422;
          send(422, { error: `LFS object ${value.oid ?? ''} was never uploaded` });
          return;
        }
        files[p] = object;
      } else if (key === 'deletedFile') {
        files = Object.fromEntries(Object.entries(files).filter(([k]) => k !== p));
        entry.deleted.push(p);
        continue;
      } else continue;
      entry.paths.push(p);
    }
    entry.commit = this.newCommit(repo, files);
    send(200, { success: true, commitOid: entry.commit, commitUrl: `${this.url}/${repo.repo}/commit/${entry.commit}`, hookOutput: '' });
  }

  private resolve(
    req: IncomingMessage,
    res: ServerResponse,
    log: LoggedRequest,
    send: (status: number, body: unknown, headers?: Record<string, string>) => void,
    at: { commit: string; filePath: string; content: Buffer | undefined },
  ): void {
    const { commit, filePath, content } = at;
    if (!content) {
      send(404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
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
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = Number(range?.[1] ?? 0);
    const end = range?.[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
    const slice = body.subarray(start, end + 1);
    const lfs = content.length > LFS_THRESHOLD;
    log.status = range ? 206 : 200;
    res.writeHead(log.status, {
      'content-type': 'application/octet-stream',
      'content-length': String(slice.length),
      etag: `"${lfs ? sha256(content) : gitOid(content)}"`,
      'x-repo-commit': commit,
      ...(lfs ? { 'x-linked-etag': `"${sha256(content)}"`, 'x-linked-size': String(content.length) } : {}),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${body.length}` } : {}),
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
