// git+URL[#rev]: as the seed's `git clone` does, with git and git-lfs, but a shallow fetch of the
// one pinned commit, and only the LFS objects the steps read. `.git` is never part of the content.
import { execFile } from 'node:child_process';
import { mkdir, readFile, readlink, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from '../store/hash.js';
import { err, ok, type Result } from '../result.js';
import { keyOf } from '../keys.js';
import type { Files } from '../store/store.js';
import { partOf, safeRepoPath, selectFiles, weightsIndexName, type FileRules, type RepoFile } from './files.js';
import type { LockEntry } from '../lockfile/lock-file.js';
import { digestsOf, type FetchOptions, type Located, type Part, type Source, type SourceDeps, type SourceFiles } from './source.js';

const run = promisify(execFile);
const LFS_POINTER = 'version https://git-lfs.github.com/spec/v1';

export interface GitFile {
  path: string;
  digest: string;
  size: number;
}

function gitEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Never prompt; never smudge on checkout (LFS objects are pulled selectively below).
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1' };
}

async function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result<string, string>> {
  try {
    const { stdout } = await run('git', args, { cwd, env: gitEnv(env), maxBuffer: 256 << 20 });
    return ok(stdout);
  } catch (e) {
    const stderr = (e instanceof Error && 'stderr' in e && typeof e.stderr === 'string' ? e.stderr : '').trim().split('\n').slice(-3).join(' ');
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return err('git is not installed (mlc-build needs git and git-lfs for git+ sources)');
    return err(`git ${args[0]}: ${stderr || (e as Error).message}`);
  }
}

/** One shallow checkout per repository and commit, in the store. */
export function gitCheckoutDir(storeRoot: string, url: string, commit: string): string {
  return join(storeRoot, 'git', `${sha256(url).slice(0, 16)}-${commit.slice(0, 12)}`);
}

/** The commit `rev` names on the remote (the remote's HEAD when unset). */
export async function resolveGitRev(url: string, rev: string | undefined, env: NodeJS.ProcessEnv): Promise<Result<string, string>> {
  if (rev !== undefined && /^[0-9a-f]{40}$/.test(rev)) return ok(rev);
  const name = rev ?? 'HEAD';
  const out = await git(['ls-remote', url, name, `refs/heads/${name}`, `refs/tags/${name}`, `refs/tags/${name}^{}`], process.cwd(), env);
  if (!out.ok) return err(`resolving ${url}#${name}: ${out.error}`);
  const refs = new Map(
    out.value
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t').reverse() as [string, string]),
  );
  const commit = refs.get(`refs/tags/${name}^{}`) ?? refs.get(`refs/tags/${name}`) ?? refs.get(`refs/heads/${name}`) ?? refs.get(name);
  return commit ? ok(commit) : err(`resolving ${url}#${name}: no such branch or tag`);
}

/**
 * Brings the checkout to `commit` (a shallow fetch if it is not there), pulls the LFS objects of
 * the selected files, verifies them, and returns the selected files of `part`.
 */
export async function fetchGitPart(
  url: string,
  commit: string,
  rev: string | undefined,
  part: 'meta' | 'weights',
  dir: string,
  env: NodeJS.ProcessEnv,
  digest: (path: string) => Promise<{ digest: string; size: number }>,
  rules: FileRules = { include: [], exclude: [] },
): Promise<Result<Record<string, GitFile>, string>> {
  await mkdir(dir, { recursive: true });
  if (!(await stat(join(dir, '.git')).catch(() => undefined))) {
    const init = await git(['init', '-q'], dir, env);
    if (!init.ok) return init;
    // git-lfs finds its server through a remote.
    const remote = await git(['remote', 'add', 'origin', url], dir, env);
    if (!remote.ok) return remote;
  }
  const have = await git(['cat-file', '-e', `${commit}^{commit}`], dir, env);
  if (!have.ok) {
    // Fetch the ref by name (every server allows that) and check it is the pinned commit; else by sha.
    const byName = rev !== undefined && !/^[0-9a-f]{40}$/.test(rev) ? await git(['fetch', '-q', '--depth', '1', 'origin', rev], dir, env) : undefined;
    const got = byName?.ok ? await git(['rev-parse', 'FETCH_HEAD'], dir, env) : undefined;
    if (!got?.ok || got.value.trim() !== commit) {
      const bySha = await git(['fetch', '-q', '--depth', '1', 'origin', commit], dir, env);
      if (!bySha.ok) return err(`fetching ${commit.slice(0, 12)} from ${url}: ${bySha.error}`);
    }
  }
  const checkout = await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', '--force', '--detach', commit], dir, env);
  if (!checkout.ok) return checkout;

  const tree = await git(['ls-tree', '-r', '-l', '-z', commit], dir, env);
  if (!tree.ok) return tree;
  const lfsList = await git(['lfs', 'ls-files', '--long', commit], dir, env);
  if (!lfsList.ok) return lfsList;
  const lfsOids = new Map(
    lfsList.value
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = /^([0-9a-f]{64}) [-*] (.+)$/.exec(l);
        return m ? [m[2] as string, m[1] as string] : ['', ''];
      }),
  );
  const files: RepoFile[] = [];
  for (const entry of tree.value.split('\0').filter(Boolean)) {
    const m = /^(\d+) (\w+) ([0-9a-f]+)\s+(-|\d+)\t(.+)$/s.exec(entry);
    const [, mode, type, oid, size, path] = m ?? [];
    if (mode === undefined || oid === undefined || size === undefined || path === undefined || type !== 'blob') continue;
    if (!safeRepoPath(path)) return err(`${url}@${commit.slice(0, 12)}: the repository has a file path that leaves it: ${JSON.stringify(path)}; refused`);
    if (mode === '120000') {
      const target = await readlink(join(dir, path)).catch(() => '');
      if (target.startsWith('/') || !safeRepoPath(posix.join(posix.dirname(path), target))) {
        return err(`${url}@${commit.slice(0, 12)}: ${path} is a symlink to ${JSON.stringify(target)}, outside the repository; refused`);
      }
    }
    const lfsOid = lfsOids.get(path);
    files.push({ path, size: Number(size), oid: lfsOid ?? oid, lfs: lfsOid !== undefined });
  }
  let index: { weight_map?: Record<string, string> } | undefined;
  if (part === 'weights') {
    const name = weightsIndexName(files);
    if (files.some((f) => f.path === name)) {
      if (lfsOids.has(name)) await git(['lfs', 'pull', 'origin', `--include=${name}`], dir, env);
      try {
        index = JSON.parse(await readFile(join(dir, name), 'utf8')) as typeof index;
      } catch (e) {
        return err(`${url}: ${name} is not valid JSON: ${(e as Error).message}`);
      }
    }
  }
  const selected = selectFiles(files, part, index, rules);
  if (!selected.ok) return err(`${url}@${commit.slice(0, 12)}: ${selected.error}`);
  const lfsWanted = selected.value.filter((f) => f.lfs).map((f) => f.path);
  if (lfsWanted.length > 0) {
    const pulled = await git(['lfs', 'pull', 'origin', `--include=${lfsWanted.join(',')}`, '--exclude='], dir, env);
    if (!pulled.ok) return err(`pulling LFS objects from ${url}: ${pulled.error}`);
  }
  for (const f of selected.value) {
    const head = (await readFile(join(dir, f.path)).catch(() => Buffer.alloc(0))).subarray(0, LFS_POINTER.length).toString();
    if (head === LFS_POINTER) return err(`${url}@${commit.slice(0, 12)}: ${f.path} is still a git-lfs pointer after pulling (is the LFS server reachable?)`);
  }
  // Hashed in parallel: shards one per core.
  const hashed = await Promise.all(selected.value.map((f) => digest(join(dir, f.path))));
  const out: Record<string, GitFile> = {};
  for (const [i, f] of selected.value.entries()) {
    const d = hashed[i] as { digest: string; size: number };
    if (f.lfs && d.digest !== f.oid) return err(`${url}@${commit.slice(0, 12)}: ${f.path} does not match its LFS oid ${f.oid}; refused`);
    out[f.path] = { path: join(dir, f.path), ...d };
  }
  return ok(out);
}

/** git+URL[#rev]: pinned in mlc.build.lock, one shallow checkout per commit in the store. */
export class GitSource implements Source {
  readonly mirrored = true;

  constructor(
    readonly text: string,
    private readonly url: string,
    private readonly rev: string | undefined,
    private readonly deps: SourceDeps,
    /** Runs git commands on one checkout one after another (meta and weights share it). */
    private readonly serially: <T>(key: string, fn: () => Promise<T>) => Promise<T>,
  ) {}

  private pinned(): LockEntry | undefined {
    return this.deps.update ? undefined : this.deps.lock.sources[this.text];
  }

  folder(): string | undefined {
    const commit = this.pinned()?.commit;
    return commit ? gitCheckoutDir(this.deps.storeRoot, this.url, commit) : undefined;
  }

  async locate(part: Part): Promise<Located> {
    const entry = this.pinned();
    if (!entry?.commit) return { kind: 'fetch', reason: `${this.rev === undefined ? 'remote HEAD' : `revision ${this.rev}`}, not yet resolved` };
    const missing: Located = { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet fetched` };
    const dir = gitCheckoutDir(this.deps.storeRoot, this.url, entry.commit);
    const wanted = Object.entries(entry.files).filter(([name]) => partOf(name) === part);
    if (wanted.length === 0) return missing;
    // The files in parallel: shards the stat cache does not know hash one per core.
    const here = await Promise.all(
      wanted.map(async ([name, pin]) => {
        const path = join(dir, name);
        const d = await this.deps.digest(path).catch(() => undefined);
        return d && `sha256:${d.digest}` === pin ? ([name, { ...d, path }] as const) : undefined;
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
    return { files, key: keyOf(fields), fields, pin: { part, files: digests, commit, revision: this.rev ?? 'HEAD' } };
  }

  fetch(part: Part, opts: FetchOptions): Promise<Result<SourceFiles, string>> {
    return this.serially(this.text, async () => {
      if (opts.signal.aborted) return err(`${this.url}: cancelled`);
      const pinned = this.pinned();
      const commit = pinned?.commit ? ok(pinned.commit) : await resolveGitRev(this.url, this.rev, this.deps.env);
      if (!commit.ok) return commit;
      const dir = gitCheckoutDir(this.deps.storeRoot, this.url, commit.value);
      const got = await fetchGitPart(this.url, commit.value, this.rev, part, dir, this.deps.env, (p) => this.deps.digest(p), this.deps.rules);
      if (!got.ok) return got;
      for (const [name, f] of Object.entries(got.value)) {
        const was = pinned?.commit === commit.value ? pinned.files[name] : undefined;
        if (was !== undefined && was !== `sha256:${f.digest}`)
          return err(`${this.url}@${commit.value.slice(0, 12)}: ${name} differs from what mlc.build.lock pinned; refused`);
      }
      return ok(this.found(part, commit.value, got.value));
    });
  }
}
