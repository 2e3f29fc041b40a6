// What watch mode watches, and whether a change is real. The set is what the builds read: every
// file whose digest a decision took (local model files, the toolchain's fingerprint inputs, the web
// runtime), the folders whose listing they read, the manifest and the lock; never out/, the store
// or the HF cache. A change counts only if the content differs from what the last build read: a
// touch, an identical save or a round trip through `git checkout` is no change.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { relative, sep } from 'node:path';

/** The path is `dir` or inside it. */
export function within(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

/** Editor droppings (swap, backup and probe files) that do not change what a folder holds. */
function isScratch(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || /\.sw[a-p]$/.test(name) || name === '4913';
}

/** A folder's listing as a digest (scratch files left out); undefined if it is not a folder. */
export function listingDigest(dir: string): string | undefined {
  try {
    const names = readdirSync(dir)
      .filter((n) => !isScratch(n))
      .sort();
    return createHash('sha256').update(names.join('\0')).digest('hex');
  } catch {
    return undefined;
  }
}

export class WatchSet {
  /** File → the digest the last build read (undefined: it did not exist). */
  private readonly files = new Map<string, string | undefined>();
  /** Folder → its listing's digest when the last build read it. */
  private readonly dirs = new Map<string, string | undefined>();

  constructor(
    private readonly excluded: readonly string[],
    /** A file's content digest, undefined if it does not exist (through the stat cache: a touch re-hashes, nothing more). */
    private readonly digest: (file: string) => Promise<string | undefined>,
  ) {}

  private wanted(path: string): boolean {
    return !this.excluded.some((d) => within(path, d));
  }

  /** Records what a build read: files with their digests, folders with their listings now. */
  addFiles(seen: ReadonlyMap<string, string | undefined>): void {
    for (const [path, digest] of seen) if (this.wanted(path)) this.files.set(path, digest);
  }

  /** Watches a file whose content, when it was read, had this digest. */
  addFile(path: string, digest: string | undefined): void {
    if (this.wanted(path)) this.files.set(path, digest);
  }

  addDirs(dirs: Iterable<string>): void {
    for (const d of dirs) if (this.wanted(d)) this.dirs.set(d, listingDigest(d));
  }

  /** Everything to hand to the file watcher. */
  paths(): string[] {
    return [...new Set([...this.files.keys(), ...this.dirs.keys()])].sort();
  }

  get fileCount(): number {
    return this.files.size;
  }

  /**
   * Of the paths the watcher reported, those whose content (or, for a folder, listing) differs
   * from what the last build read. The baseline moves to what is there now, so a change is
   * reported once.
   */
  async confirm(reported: Iterable<string>): Promise<string[]> {
    const changed = new Set<string>();
    for (const path of reported) {
      if (this.files.has(path)) {
        const now = await this.digest(path);
        if (now !== this.files.get(path)) {
          this.files.set(path, now);
          changed.add(path);
        }
      }
      // A file appearing in or leaving a watched folder changes its listing.
      for (const dir of [path, parentOf(path)]) {
        if (!this.dirs.has(dir)) continue;
        const now = listingDigest(dir);
        if (now !== this.dirs.get(dir)) {
          this.dirs.set(dir, now);
          changed.add(path);
        }
      }
    }
    return [...changed].sort();
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf(sep);
  return i <= 0 ? sep : path.slice(0, i);
}
