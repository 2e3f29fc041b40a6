// hf://org/name[@rev]: resolve a revision to a commit, pick the files the steps read, and fetch
// them into the standard Hugging Face cache (blobs/, snapshots/<commit>/, refs/), which Python tools
// share. @huggingface/hub resolves and lists; downloads are ours: it neither resumes nor verifies.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readlink, realpath, rename, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { listFiles, modelInfo } from '@huggingface/hub';
import { err, ok, type Result } from '../result.js';
import { keyOf } from '../keys.js';
import type { Files } from '../store/store.js';
import { partOf, safeRepoPath, selectFiles, weightsIndexName, type RepoFile } from './files.js';
import type { LockEntry } from '../lockfile/lock-file.js';
import { digestsOf, type FetchOptions, type Located, type Part, type Source, type SourceDeps, type SourceFiles } from './source.js';

/** A file of a hub repository. */
export type HubFile = RepoFile;

export interface HubOptions {
  endpoint: string;
  token?: string;
  cacheDir: string;
  /** Called as bytes arrive: (bytes so far of this part, total bytes of this part). */
  onProgress?: (bytes: number, total: number) => void;
  fetchImpl?: typeof fetch;
  retries?: number;
  /** Cancels every request of this transfer. */
  signal?: AbortSignal;
}

export function hubEndpoint(env: NodeJS.ProcessEnv): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (as huggingface_hub finds it). */
export function hubCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

/** The token as huggingface_hub finds it: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then HF_HOME/token. */
export async function hubToken(env: NodeJS.ProcessEnv, tokenFile?: string): Promise<string | undefined> {
  const files = tokenFile ? [tokenFile] : [];
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv && !tokenFile) return fromEnv.trim();
  files.push(join(env.HF_HOME || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'huggingface'), 'token'));
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => undefined);
    if (text?.trim()) return text.trim();
  }
  return undefined;
}

/** A fetch that adds the token itself (the library refuses tokens without the hf_ prefix). */
function authedFetch(opts: HubOptions): typeof fetch {
  const base = opts.fetchImpl ?? fetch;
  return (input, init) => {
    const headers = new Headers(init?.headers);
    if (opts.token) headers.set('Authorization', `Bearer ${opts.token}`);
    return base(input, { ...init, headers, ...(opts.signal ? { signal: opts.signal } : {}) });
  };
}

export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replace('/', '--')}`);
}

function describeHttp(status: number, repo: string, what: string): string {
  if (status === 401 || status === 403) {
    return `${what}: HTTP ${status}: ${repo} is gated or private: accept the license at https://huggingface.co/${repo} and set HF_TOKEN (or --token-file)`;
  }
  if (status === 404) return `${what}: HTTP 404: repository or revision not found: ${repo}`;
  return `${what}: HTTP ${status}`;
}

/** "cannot reach <endpoint> (ECONNREFUSED)" for a network failure, else the error's message. */
function networkError(e: unknown, endpoint: string): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if ((e as Error).message === 'fetch failed' || cause)
    return `cannot reach ${endpoint} (${cause?.code ?? cause?.message ?? (e as Error).message}); check the network, or HF_ENDPOINT`;
  return (e as Error).message;
}

function httpStatusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The commit a revision names, and the repository's files at that commit. */
export async function resolveRevision(repo: string, revision: string, opts: HubOptions): Promise<Result<{ commit: string; files: HubFile[] }, string>> {
  const f = authedFetch(opts);
  let commit: string;
  try {
    const info = await modelInfo({ name: repo, revision, hubUrl: opts.endpoint, fetch: f, additionalFields: ['sha'] });
    commit = String((info as { sha?: unknown }).sha ?? '');
    if (!/^[0-9a-f]{40}$/.test(commit)) return err(`${repo}@${revision}: the hub returned no commit for this revision`);
  } catch (e) {
    const status = httpStatusOf(e);
    return err(status ? describeHttp(status, repo, `resolving ${repo}@${revision}`) : `resolving ${repo}@${revision}: ${networkError(e, opts.endpoint)}`);
  }
  const files: HubFile[] = [];
  try {
    for await (const entry of listFiles({ repo: { type: 'model', name: repo }, revision: commit, recursive: true, hubUrl: opts.endpoint, fetch: f })) {
      if (entry.type !== 'file') continue;
      if (!safeRepoPath(entry.path))
        return err(`${repo}@${commit.slice(0, 12)}: the repository lists a file path that leaves it: ${JSON.stringify(entry.path)}; refused`);
      files.push({ path: entry.path, size: entry.lfs?.size ?? entry.size, oid: entry.lfs?.oid ?? entry.oid ?? '', lfs: entry.lfs !== undefined });
    }
  } catch (e) {
    const status = httpStatusOf(e);
    return err(status ? describeHttp(status, repo, `listing ${repo}@${commit.slice(0, 12)}`) : `listing ${repo}: ${networkError(e, opts.endpoint)}`);
  }
  return ok({ commit, files });
}

const gitBlobSha1 = (content: Buffer) => createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');

/**
 * Fetches files of a commit into the HF cache (resuming partial blobs with Range, verifying each
 * against its oid while it is written, retrying resets and 5xx), links them into the snapshot and
 * returns where each is with its sha256.
 */
export async function fetchFiles(
  repo: string,
  commit: string,
  files: readonly HubFile[],
  opts: HubOptions,
  digest: (path: string) => Promise<{ digest: string; size: number }>,
): Promise<Result<Record<string, { path: string; digest: string; size: number }>, string>> {
  const folder = repoFolder(opts.cacheDir, repo);
  const total = files.reduce((n, f) => n + f.size, 0);
  const got = new Map<string, number>();
  const report = () =>
    opts.onProgress?.(
      [...got.values()].reduce((a, b) => a + b, 0),
      total,
    );
  const present = new Map<string, string>();
  for (const file of files) {
    const have = await verifiedBlob(join(folder, 'blobs', file.oid), file, digest);
    if (have) present.set(file.path, have);
  }
  // The sizes are known before anything is fetched: say so now rather than fail half-way.
  const needed = files.filter((f) => !present.has(f.path)).reduce((n, f) => n + f.size, 0);
  const space = needed > 0 ? await freeBytes(folder) : undefined;
  if (space !== undefined && space < needed) {
    return err(`not enough disk space for ${repo}: ${gib(needed)} to download into ${opts.cacheDir}, ${gib(space)} free`);
  }
  const out: Record<string, { path: string; digest: string; size: number }> = {};
  let failure: string | undefined;
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file && !failure; file = queue.shift()) {
      const blob = join(folder, 'blobs', file.oid);
      const snap = join(folder, 'snapshots', commit, normalize(file.path));
      if (relative(join(folder, 'snapshots', commit), snap).startsWith('..')) {
        failure = `refused file path ${JSON.stringify(file.path)}`;
        return;
      }
      let have = present.get(file.path);
      if (!have) {
        const f = file;
        const r = await download(repo, commit, f, blob, opts, (b) => {
          got.set(f.path, b);
          report();
        });
        if (!r.ok) {
          failure ??= r.error;
          return;
        }
        have = r.value;
      }
      got.set(file.path, file.size);
      report();
      await linkSnapshot(snap, blob);
      // The blob itself, not the snapshot's symlink (a hardlink to a relative symlink breaks elsewhere).
      out[file.path] = { path: blob, digest: have, size: file.size };
    }
  };
  // A few files at a time: large shards fill the link, small files don't wait behind them.
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, files.length) }, worker));
  if (failure) return err(failure);
  await mkdir(join(folder, 'refs'), { recursive: true });
  return ok(out);
}

const PARALLEL_FILES = 4;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/** Free bytes on the filesystem that holds `path` (or its nearest existing parent). */
async function freeBytes(path: string): Promise<number | undefined> {
  for (let p = path; ; p = dirname(p)) {
    const st = await statfs(p).catch(() => undefined);
    if (st) return st.bavail * st.bsize;
    if (dirname(p) === p) return undefined;
  }
}

/** The blob's sha256 if it is present and matches its oid. */
async function verifiedBlob(blob: string, file: HubFile, digest: (path: string) => Promise<{ digest: string; size: number }>): Promise<string | undefined> {
  try {
    const d = await digest(blob);
    if (d.size !== file.size) return undefined;
    if (file.lfs) return d.digest === file.oid ? d.digest : undefined;
    return gitBlobSha1(await readFile(blob)) === file.oid ? d.digest : undefined;
  } catch {
    return undefined;
  }
}

async function download(
  repo: string,
  commit: string,
  file: HubFile,
  blob: string,
  opts: HubOptions,
  progress: (bytes: number) => void,
): Promise<Result<string, string>> {
  const partial = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  const url = `${opts.endpoint}/${repo}/resolve/${commit}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  const f = authedFetch(opts);
  const retries = opts.retries ?? 4;
  let lastError = '';
  let corrupt = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(4000, 200 * 2 ** attempt)));
    if (opts.signal?.aborted) return err(`downloading ${file.path} from ${repo}: cancelled`);
    let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
    if (offset > file.size) {
      await rm(partial, { force: true });
      offset = 0;
    }
    let res: Response;
    try {
      res = await f(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, redirect: 'follow' });
    } catch (e) {
      lastError = networkError(e, opts.endpoint);
      continue;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) return err(describeHttp(res.status, repo, `downloading ${file.path}`));
    if (res.status >= 500 || res.status === 429) {
      lastError = `HTTP ${res.status}`;
      await res.body?.cancel();
      continue;
    }
    if (res.status !== 200 && res.status !== 206) return err(`downloading ${file.path} from ${repo}: HTTP ${res.status}`);
    if (res.status === 200 && offset > 0) {
      offset = 0; // the server ignored Range: start over
      await rm(partial, { force: true });
    }
    // Hash what is already on disk, then the rest as it arrives: one read of the new bytes.
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1').update(`blob ${file.size}\0`);
    if (offset > 0) {
      const head = await readFile(partial);
      sha256.update(head);
      sha1.update(head);
    }
    const sink = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
    let bytes = offset;
    try {
      if (!res.body) throw new Error('empty response');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        sha256.update(chunk);
        sha1.update(chunk);
        bytes += chunk.length;
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
        progress(bytes);
      }
      await new Promise<void>((resolve, reject) => sink.end((e?: Error | null) => (e ? reject(e) : resolve())));
    } catch (e) {
      sink.destroy();
      lastError = `connection lost after ${bytes} of ${file.size} bytes (${(e as Error).message})`;
      continue; // resume from what reached the disk
    }
    if (bytes !== file.size) {
      lastError = `got ${bytes} of ${file.size} bytes`;
      continue;
    }
    const sha = sha256.digest('hex');
    const ok1 = file.lfs ? sha === file.oid : sha1.digest('hex') === file.oid;
    if (!ok1) {
      await rm(partial, { force: true });
      if (++corrupt > 1) return err(`downloading ${file.path} from ${repo}: the bytes do not match the oid ${file.oid} (twice); refused`);
      lastError = 'digest mismatch';
      continue;
    }
    await rename(partial, blob);
    return ok(sha);
  }
  return err(`downloading ${file.path} from ${repo}: ${lastError} (gave up after ${retries + 1} tries)`);
}

async function linkSnapshot(snap: string, blob: string): Promise<void> {
  await mkdir(dirname(snap), { recursive: true });
  const target = relative(dirname(snap), blob);
  if ((await readlink(snap).catch(() => undefined)) === target) return;
  await rm(snap, { force: true });
  await symlink(target, snap);
}

/** Records that a revision name resolved to a commit, as huggingface_hub does (refs/<revision>). */
export async function writeRef(cacheDir: string, repo: string, revision: string, commit: string): Promise<void> {
  if (/^[0-9a-f]{40}$/.test(revision)) return;
  const ref = join(repoFolder(cacheDir, repo), 'refs', revision);
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, commit);
}

/** hf://org/name[@rev]: pinned in mlc.build.lock, files in the standard HF cache. */
export class HubSource implements Source {
  readonly mirrored = true;
  /** One resolution per build, shared by the meta and weights parts. */
  private resolution: Promise<Result<{ commit: string; files: HubFile[] }, string>> | undefined;

  constructor(
    readonly text: string,
    private readonly repo: string,
    private readonly revision: string,
    private readonly deps: SourceDeps,
  ) {}

  private pinned(): LockEntry | undefined {
    return this.deps.update ? undefined : this.deps.lock.sources[this.text];
  }

  private snapshot(commit: string): string {
    return join(repoFolder(hubCacheDir(this.deps.env), this.repo), 'snapshots', commit);
  }

  folder(): string | undefined {
    const commit = this.pinned()?.commit;
    return commit ? this.snapshot(commit) : undefined;
  }

  async locate(part: Part): Promise<Located> {
    // Pinned in mlc.build.lock and present in the HF cache: no network at all.
    const entry = this.pinned();
    if (!entry?.commit) return { kind: 'fetch', reason: `revision ${this.revision}, not yet resolved` };
    const missing: Located = { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet downloaded` };
    const wanted = Object.entries(entry.files).filter(([name]) => partOf(name) === part);
    if (wanted.length === 0) return missing;
    const files: Files = {};
    for (const [name, pin] of wanted) {
      // Through the snapshot's symlink to the blob itself: outputs are linked from real files.
      const path = await realpath(join(this.snapshot(entry.commit), name)).catch(() => undefined);
      const d = path && (await this.deps.digest(path).catch(() => undefined));
      if (!path || !d || `sha256:${d.digest}` !== pin) return missing;
      files[name] = { ...d, path };
    }
    return { kind: 'here', found: this.found(part, entry.commit, files) };
  }

  private found(part: Part, commit: string, files: Files): SourceFiles {
    const digests = digestsOf(files);
    const fields = { source: this.text, commit, part, rules: this.deps.rules, files: digests };
    return { files, key: keyOf(fields), fields, pin: { part, files: digests, commit, revision: this.revision } };
  }

  async fetch(part: Part, opts: FetchOptions): Promise<Result<SourceFiles, string>> {
    const token = await hubToken(this.deps.env, this.deps.tokenFile);
    const hub: HubOptions = {
      endpoint: hubEndpoint(this.deps.env),
      token,
      cacheDir: hubCacheDir(this.deps.env),
      onProgress: opts.onProgress,
      signal: opts.signal,
    };
    const pinned = this.pinned();
    this.resolution ??= resolveRevision(this.repo, pinned?.commit ?? this.revision, hub);
    const resolved = await this.resolution;
    if (!resolved.ok) return resolved;
    const { commit, files: listing } = resolved.value;
    let index: { weight_map?: Record<string, string> } | undefined;
    if (part === 'weights') {
      // The index of the format that will be selected (safetensors when present), if the repository has it.
      const name = weightsIndexName(listing);
      const want = listing.find((f) => f.path === name);
      if (want) {
        const got = await fetchFiles(this.repo, commit, [want], hub, this.deps.digest);
        if (!got.ok) return got;
        try {
          index = JSON.parse(await readFile((got.value[want.path] as { path: string }).path, 'utf8')) as typeof index;
        } catch (e) {
          return err(`${this.repo}: ${want.path} is not valid JSON: ${(e as Error).message}`);
        }
      }
    }
    const selected = selectFiles(listing, part, index, this.deps.rules);
    if (!selected.ok) return err(`${this.repo}@${commit.slice(0, 12)}: ${selected.error}`);
    const fetched = await fetchFiles(this.repo, commit, selected.value, hub, this.deps.digest);
    if (!fetched.ok) return fetched;
    await writeRef(hub.cacheDir, this.repo, this.revision, commit);
    for (const [name, f] of Object.entries(fetched.value)) {
      const was = pinned?.commit === commit ? pinned.files[name] : undefined;
      if (was !== undefined && was !== `sha256:${f.digest}`) {
        return err(`${this.repo}@${commit.slice(0, 12)}: ${name} differs from what mlc.build.lock pinned; refused (run mlc-build build --update to re-pin)`);
      }
    }
    return ok(this.found(part, commit, fetched.value));
  }
}
