// Persisted stat cache: (dev, ino, size, mtime) → sha256, so a no-op build reads no file contents.
// ctime is left out on purpose: our own hardlinks change it.
import { statSync, type BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.js';
import { hashFile, type FileDigest } from './hash.js';

interface Entry {
  dev: string;
  ino: string;
  size: number;
  mtime: string; // nanoseconds
  digest: string;
}

export class StatCache {
  private dirty = false;
  /** Every path asked about since load: what this build's decisions read (for the no-op stamp). */
  readonly observed = new Set<string>();
  /** The digest each observed path had when it was read (undefined: it did not exist), for watch mode. */
  readonly seen = new Map<string, string | undefined>();
  private constructor(
    private readonly file: string,
    private readonly entries: Map<string, Entry>,
  ) {}

  static async load(file: string): Promise<StatCache> {
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as Record<string, Entry>;
      return new StatCache(file, new Map(Object.entries(data)));
    } catch {
      return new StatCache(file, new Map());
    }
  }

  /** The file's digest, hashing it only if it changed since it was last seen. */
  async digest(path: string, opts: { verify?: boolean } = {}): Promise<FileDigest> {
    // A stat is microseconds synchronously and a thread-pool round trip asynchronously; a no-op
    // build makes thousands of them.
    this.observed.add(path);
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch (e) {
      this.seen.set(path, undefined);
      throw e;
    }
    return this.digestOf(path, st, opts);
  }

  /**
   * As `digest`, but undefined when nothing is at the path. Asking about a file that is not there
   * is the common case when out/ is being filled: it costs no exception.
   */
  async digestIfPresent(path: string, opts: { verify?: boolean } = {}): Promise<FileDigest | undefined> {
    this.observed.add(path);
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) {
      this.seen.set(path, undefined);
      return undefined;
    }
    return this.digestOf(path, st, opts);
  }

  private async digestOf(path: string, st: BigIntStats, opts: { verify?: boolean }): Promise<FileDigest> {
    const e = this.entries.get(path);
    if (!opts.verify && e && e.dev === String(st.dev) && e.ino === String(st.ino) && e.size === Number(st.size) && e.mtime === String(st.mtimeNs)) {
      this.seen.set(path, e.digest);
      return { digest: e.digest, size: e.size };
    }
    const d = await hashFile(path);
    this.seen.set(path, d.digest);
    // Re-stat: a file written while we read it must not be cached under the new stat.
    const after = await stat(path, { bigint: true });
    if (after.mtimeNs === st.mtimeNs && after.size === st.size) this.set(path, after, d.digest);
    return d;
  }

  /** Records a digest the caller computed for the file as it is now. */
  remember(path: string, digest: string): void {
    this.observed.add(path);
    this.seen.set(path, digest);
    this.set(path, statSync(path, { bigint: true }), digest);
  }

  /**
   * Records a hardlink just made to `target`, a file this process has seen with this digest: the
   * link is the same inode (same device, inode, size and mtime), so it needs no stat of its own.
   */
  rememberLink(path: string, target: string, digest: string): void {
    const e = this.entries.get(target);
    if (this.seen.get(target) !== digest || e?.digest !== digest) {
      this.remember(path, digest);
      return;
    }
    this.observed.add(path);
    this.seen.set(path, digest);
    this.entries.set(path, { ...e });
    this.added.add(path);
    this.dirty = true;
  }

  forget(path: string): void {
    if (this.entries.delete(path)) this.dirty = true;
  }

  private set(path: string, st: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint }, digest: string): void {
    this.entries.set(path, { dev: String(st.dev), ino: String(st.ino), size: Number(st.size), mtime: String(st.mtimeNs), digest });
    this.added.add(path);
    this.dirty = true;
  }

  /** Paths this process hashed or placed since load. */
  private readonly added = new Set<string>();

  /**
   * Writes the cache (atomically). With `merge`, a reader (plan, status) beside a running build
   * adds what it hashed to what is on disk now, instead of replacing the build's entries.
   */
  async save(opts: { merge?: boolean } = {}): Promise<void> {
    if (!this.dirty) return;
    let entries = this.entries;
    if (opts.merge) {
      const now = await StatCache.load(this.file);
      entries = now.entries;
      for (const p of this.added) {
        const e = this.entries.get(p);
        if (e) entries.set(p, e);
      }
    }
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(entries)));
    this.dirty = false;
  }
}
