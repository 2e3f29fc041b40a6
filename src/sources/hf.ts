// hf://org/name[@rev]: resolve a revision to a commit, pick the files the steps read, and fetch
// them into the standard Hugging Face cache (blobs/, snapshots/<commit>/, refs/), which Python tools
// share. @huggingface/hub resolves and lists; downloads go through src/net (it resumes, verifies
// and retries; the library does none of that).
import { createHash } from 'node:crypto';
import { mkdir, readFile, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { listFiles, modelInfo } from '@huggingface/hub';
import { fileSink, HttpClient, type NetFailure, type Timeouts } from '../net/index.js';
import { err, ok, type Result } from '../result.js';
import { freeBytes } from '../store/free-space.js';
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
  /** For @huggingface/hub's requests (resolving, listing). */
  fetchImpl?: typeof fetch;
  /** Retries of a file download after a reset, a timeout or a 5xx. */
  retries?: number;
  /** Cancels every request of this transfer. */
  signal?: AbortSignal;
}

export function hubEndpoint(env: NodeJS.ProcessEnv): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (as huggingface_hub finds it). */
export function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'huggingface');
}

/** HF_HUB_CACHE, else HF_HOME/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv): string {
  return env.HF_HUB_CACHE || join(hfHome(env), 'hub');
}

/** The token as huggingface_hub finds it: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then HF_HOME/token. */
export async function hubToken(env: NodeJS.ProcessEnv, tokenFile?: string): Promise<string | undefined> {
  return (await hubTokenFound(env, tokenFile))?.token;
}

/** A token and where it came from ("HF_TOKEN", "the token file /x"), so a refusal can name its source and never the token. */
export interface FoundToken {
  token: string;
  source: string;
}

export async function hubTokenFound(env: NodeJS.ProcessEnv, tokenFile?: string): Promise<FoundToken | undefined> {
  if (!tokenFile) {
    for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'] as const) {
      const value = env[name]?.trim();
      if (value) return { token: value, source: name };
    }
  }
  const files = [...(tokenFile ? [{ file: tokenFile, source: `--token-file ${tokenFile}` }] : []), { file: join(hfHome(env), 'token'), source: '' }];
  for (const f of files) {
    const text = await readFile(f.file, 'utf8').catch(() => undefined);
    if (text?.trim()) return { token: text.trim(), source: f.source || `the token file ${f.file}` };
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

/** "cannot reach <endpoint> (ECONNREFUSED)" for a network failure of fetch, else the error's message. */
function networkError(e: unknown, endpoint: string): string {
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : undefined;
  if (message === 'fetch failed' || cause) return `cannot reach ${endpoint} (${codeOf(cause) ?? cause?.message ?? message}); check the network, or HF_ENDPOINT`;
  return message;
}

function codeOf(e: Error | undefined): string | undefined {
  return e && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function httpStatusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && 'statusCode' in e && typeof e.statusCode === 'number' ? e.statusCode : undefined;
}

/** The commit a revision names, and the repository's files at that commit. */
export async function resolveRevision(repo: string, revision: string, opts: HubOptions): Promise<Result<{ commit: string; files: HubFile[] }, string>> {
  const f = authedFetch(opts);
  let commit: string;
  try {
    const info = await modelInfo({ name: repo, revision, hubUrl: opts.endpoint, fetch: f, additionalFields: ['sha'] });
    commit = info.sha;
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
  // Blobs already here are checked in parallel: shards hash one per core.
  const verified = await Promise.all(files.map((file) => verifiedBlob(join(folder, 'blobs', file.oid), file, digest)));
  files.forEach((file, i) => {
    const have = verified[i];
    if (have) present.set(file.path, have);
  });
  // The sizes are known before anything is fetched: say so now rather than fail half-way.
  const needed = files.filter((f) => !present.has(f.path)).reduce((n, f) => n + f.size, 0);
  const space = needed > 0 ? await freeBytes(folder) : undefined;
  if (space !== undefined && space < needed) {
    return err(`not enough disk space for ${repo}: ${gib(needed)} to download into ${opts.cacheDir}, ${gib(space)} free`);
  }
  const out: Record<string, { path: string; digest: string; size: number }> = {};
  let failure: string | undefined;
  const queue = [...files];
  const client = new HttpClient({ headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, timeouts: HUB_TIMEOUTS });
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
        const r = await download({ repo, commit, file: f, blob, client, opts }, (b) => {
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
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, files.length) }, worker)).finally(() => {
    client.close();
  });
  if (failure) return err(failure);
  await mkdir(join(folder, 'refs'), { recursive: true });
  return ok(out);
}

const PARALLEL_FILES = 4;
/** What fetch (undici) allowed before: 10 s to connect, 300 s for the headers, 300 s without a byte. */
const HUB_TIMEOUTS: Timeouts = { connectMs: 10_000, firstByteMs: 300_000, idleMs: 300_000 };
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

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

interface FileDownload {
  repo: string;
  commit: string;
  file: HubFile;
  /** Where the verified bytes end up (the partial file beside it is resumed across runs). */
  blob: string;
  client: HttpClient;
  opts: HubOptions;
}

/** Downloads one file into its blob, verified against its oid; the blob's sha256. */
async function download(d: FileDownload, progress: (bytes: number) => void): Promise<Result<string, string>> {
  const { file, opts } = d;
  const partial = `${d.blob}.incomplete`;
  await mkdir(dirname(d.blob), { recursive: true });
  const url = `${opts.endpoint}/${d.repo}/resolve/${d.commit}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  const what = `downloading ${file.path} from ${d.repo}`;
  // Bytes that do not match the oid are fetched once more (a transfer can be corrupted), then refused.
  for (let tries = 1; ; tries++) {
    const got = await d.client.download(url, await fileSink(partial), {
      // An LFS oid is the sha256, checked as the bytes arrive; a git oid is checked after (small files).
      expected: { size: file.size, ...(file.lfs ? { sha256: file.oid } : {}) },
      retry: { retries: opts.retries ?? 4 },
      onProgress: progress,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (got.ok) {
      if (file.lfs || gitBlobSha1(await readFile(partial)) === file.oid) {
        await rename(partial, d.blob);
        return ok(got.value.sha256);
      }
    } else if (!isCorrupt(got.error)) return err(describeFailure(got.error, d.repo, file.path, opts.endpoint));
    await rm(partial, { force: true });
    if (tries >= 2) return err(`${what}: the bytes do not match the oid ${file.oid} (twice); refused`);
  }
}

function isCorrupt(f: NetFailure): boolean {
  return f.reason === 'digest-mismatch' || f.reason === 'size-mismatch';
}

/** What the user reads when a file cannot be downloaded. */
function describeFailure(f: NetFailure, repo: string, path: string, endpoint: string): string {
  const what = `downloading ${path} from ${repo}`;
  switch (f.reason) {
    case 'http-status':
      return f.status === 401 || f.status === 403 || f.status === 404 ? describeHttp(f.status, repo, `downloading ${path}`) : `${what}: ${f.message}`;
    case 'connection':
      return `${what}: cannot reach ${endpoint} (${f.code}): ${f.message}; check the network, or HF_ENDPOINT`;
    case 'aborted':
      return `${what}: cancelled`;
    case 'timeout':
    case 'digest-mismatch':
    case 'size-mismatch':
    case 'too-large':
    case 'write':
      return `${what}: ${f.message}`;
  }
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
    // The files in parallel: shards the stat cache does not know hash one per core.
    const snapshot = this.snapshot(entry.commit);
    const here = await Promise.all(
      wanted.map(async ([name, pin]) => {
        // Through the snapshot's symlink to the blob itself: outputs are linked from real files.
        const path = await realpath(join(snapshot, name)).catch(() => undefined);
        const d = path && (await this.deps.digest(path).catch(() => undefined));
        return path && d && `sha256:${d.digest}` === pin ? ([name, { ...d, path }] as const) : undefined;
      }),
    );
    const files: Files = {};
    for (const f of here) {
      if (!f) return missing;
      files[f[0]] = f[1];
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
    const digest = (path: string) => this.deps.digest(path);
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
        const got = await fetchFiles(this.repo, commit, [want], hub, digest);
        if (!got.ok) return got;
        const indexPath = got.value[want.path]?.path;
        if (indexPath === undefined) return err(`${this.repo}: ${want.path} was not downloaded`);
        try {
          index = JSON.parse(await readFile(indexPath, 'utf8')) as typeof index;
        } catch (e) {
          return err(`${this.repo}: ${want.path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    const selected = selectFiles(listing, part, index, this.deps.rules);
    if (!selected.ok) return err(`${this.repo}@${commit.slice(0, 12)}: ${selected.error}`);
    const fetched = await fetchFiles(this.repo, commit, selected.value, hub, digest);
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
