// Filesystem events, debounced: chokidar reports changes of the watched paths; after `debounceMs`
// without a new one, the paths reported since the last batch are handed on together. Polling for
// filesystems where events do not arrive (network mounts, some containers).
import { watch, type FSWatcher } from 'chokidar';

export interface FileWatcherOptions {
  debounceMs: number;
  poll: boolean;
  onBatch: (paths: string[]) => void;
  onError: (message: string) => void;
}

export class FileWatcher {
  // One chokidar watcher per batch of added paths: chokidar says `ready` once per watcher, and a
  // caller must know when new paths are watched (a change right after must not be missed).
  private readonly watchers: FSWatcher[] = [];
  private readonly watched = new Set<string>();
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FileWatcherOptions) {}

  /** Watches exactly these paths from now on. Settles once the new ones are being watched. */
  async set(paths: readonly string[]): Promise<void> {
    const next = new Set(paths);
    const gone = [...this.watched].filter((p) => !next.has(p));
    const added = paths.filter((p) => !this.watched.has(p));
    if (gone.length > 0) for (const w of this.watchers) w.unwatch(gone);
    for (const p of gone) this.watched.delete(p);
    for (const p of added) this.watched.add(p);
    if (added.length === 0) return;
    const w = watch(added, {
      ignoreInitial: true,
      depth: 0, // a watched folder's own entries, not its subfolders
      usePolling: this.opts.poll,
      interval: 100,
      binaryInterval: 300,
    });
    w.on('all', (_event, path) => this.reported(path));
    w.on('error', (e) => this.opts.onError(e instanceof Error ? e.message : String(e)));
    this.watchers.push(w);
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  has(path: string): boolean {
    return this.watched.has(path);
  }

  get size(): number {
    return this.watched.size;
  }

  private reported(path: string): void {
    this.pending.add(path);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const batch = [...this.pending];
      this.pending = new Set();
      this.opts.onBatch(batch);
    }, this.opts.debounceMs);
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.watchers.map((w) => w.close()));
  }
}
