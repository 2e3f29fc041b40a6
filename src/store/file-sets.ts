// Named files kept together under one key: each file a blob in the store's CAS (by its sha256),
// the set an action record whose outputs are the files, and the same in the remote cache (blobs at
// cas/<sha256>, the set an action result at ac/<key>), so a machine finds the whole set in one
// request. What the managed toolchain's pinned wheels are kept as. Bytes are checked against the
// digest asked for wherever they come from: a blob that does not match is refused, never placed.
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { err, ok } from '../result.js';
import type { KeyFields } from '../keys.js';
import { hashFile } from './hash.js';
import { place } from './materialize.js';
import type { RemoteCache } from './remote/remote-cache.js';
import type { ActionRecord, Store } from './store.js';

/** A file of a set, asked for by digest; its name when the asker knows it. */
export interface WantedFile {
  digest: string;
  name?: string;
}

export interface TakenFiles {
  /** Digest → the name the file was placed under. */
  placed: Map<string, string>;
  /** Digest → what each place said of a file it did not place ("the store (…): not there"). */
  looked: Map<string, string[]>;
}

/** A blob's availability: in the store, and in the remote (undefined: no remote, or it did not answer). */
export interface Availability {
  store: boolean;
  remote?: boolean;
}

/** A file name that stays inside the folder it is placed in. */
const SAFE_NAME = /^[A-Za-z0-9_+!~=-][A-Za-z0-9._+!~=-]*$/;

export class FileSets {
  constructor(
    private readonly store: Store,
    private readonly remote: RemoteCache | undefined,
  ) {}

  /** The places looked in, in order, as messages name them. */
  get places(): string[] {
    return [`the store (${this.store.root})`, ...(this.remote ? [this.remote.label] : [])];
  }

  /**
   * Places into `dir` each wanted file the store has, else the remote (its bytes land in the store
   * first, checked while written). Every placed file is hashed where it lies: what pip will read is
   * what was asked for. Names come from the asker, else the set's record (local, then remote).
   */
  async take(key: string, wanted: readonly WantedFile[], dir: string): Promise<TakenFiles> {
    await mkdir(dir, { recursive: true });
    const placed = new Map<string, string>();
    const looked = new Map<string, string[]>(wanted.map((w) => [w.digest, []]));
    const note = (digest: string, line: string) => looked.get(digest)?.push(line);
    const names = new Map(wanted.flatMap((w) => (w.name !== undefined ? [[w.digest, w.name] as const] : [])));
    const local = await this.store.getRecord(key);
    if (local) learnNames(names, local);
    const storeLabel = `the store (${this.store.root})`;
    const left: WantedFile[] = [];
    for (const w of wanted) {
      const got = await this.placeFromStore(w.digest, names.get(w.digest), dir);
      if (got.placed) placed.set(w.digest, got.placed);
      else {
        note(w.digest, `${storeLabel}: ${got.why}`);
        left.push(w);
      }
    }
    const remote = this.remote;
    if (remote && left.length > 0) {
      if (left.some((w) => !names.has(w.digest))) {
        const entry = await remote.getRecord(key);
        if (entry.kind === 'found') learnNames(names, entry.value);
      }
      for (const w of left) {
        const why = await this.fetchRemote(remote, w.digest);
        if (why !== undefined) {
          note(w.digest, `${remote.label}: ${why}`);
          continue;
        }
        const got = await this.placeFromStore(w.digest, names.get(w.digest), dir);
        if (got.placed) placed.set(w.digest, got.placed);
        else note(w.digest, `${remote.label}: ${got.why}`);
      }
    }
    for (const d of placed.keys()) looked.delete(d);
    return { placed, looked };
  }

  /**
   * Takes files of `dir` (fetched elsewhere and already matched to their digests) into the store,
   * leaving them where they are; once every file of the set is there, records the set and offers
   * it to the remote (which is asked first whether it holds it).
   */
  async keep(key: string, node: string, files: readonly { digest: string; name: string }[], dir: string, fields: KeyFields): Promise<void> {
    for (const f of files) {
      if (await this.store.hasBlob(f.digest)) continue;
      const tmp = join(this.store.root, 'tmp', `keep-${f.digest.slice(0, 16)}@${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
      try {
        place(join(dir, f.name), tmp);
        await this.store.ingestFile(tmp, f.digest);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    const outputs = Object.fromEntries(
      await Promise.all(files.map(async (f) => [f.name, { digest: f.digest, size: (await stat(this.store.blobPath(f.digest))).size }] as const)),
    );
    // The same set recorded before: used now (gc drops the least recently used sets first).
    const before = await this.store.getRecord(key);
    const same = before !== undefined && canonicalJson(before.outputs) === canonicalJson(outputs);
    const record: ActionRecord = same ? before : { key, node, outputs, durationMs: 0, createdAt: new Date().toISOString() };
    if (same) await this.store.touch([key]);
    else await this.store.putRecord(record, fields);
    await this.remote?.seed(record, fields, this.store);
  }

  /** Where each blob is: the store (trusting its stat cache), the remote (a HEAD). */
  async availability(digests: readonly string[]): Promise<Map<string, Availability>> {
    const out = new Map<string, Availability>();
    for (const d of digests) {
      const store = await this.store.hasBlob(d);
      out.set(d, this.remote ? { store, remote: await this.remote.hasBlob(d) } : { store });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.remote?.close();
    await this.store.close();
  }

  /** Places the store's blob as `name` in `dir` and hashes it there; why not, otherwise. */
  private async placeFromStore(
    digest: string,
    name: string | undefined,
    dir: string,
  ): Promise<{ placed: string; why?: never } | { placed?: never; why: string }> {
    if (!(await this.store.hasBlob(digest))) return { why: 'not there' };
    if (name === undefined || !SAFE_NAME.test(name)) return { why: 'its file name is not known (neither the lock nor a record names it)' };
    const dest = join(dir, name);
    place(this.store.blobPath(digest), dest);
    const got = (await hashFile(dest)).digest;
    if (got === digest) return { placed: name };
    await rm(dest, { force: true });
    // A blob changed on disk since it was written: it no longer counts as there.
    await rm(this.store.blobPath(digest), { force: true });
    return { why: `refused: its bytes do not match the pin (they hash to ${got.slice(0, 12)}…)` };
  }

  /** Brings a blob from the remote into the store, checked while written; why not, if it did not. */
  private async fetchRemote(remote: RemoteCache, digest: string): Promise<string | undefined> {
    const stored = await this.store.ingestWritten(digest, async (path) => {
      const saved = await remote.saveBlob({ digest }, path);
      return saved.kind === 'found' ? ok(saved.value) : err(saved);
    });
    if (stored.ok) return undefined;
    const failure = stored.error;
    if (failure.stage === 'store') return `not taken: ${failure.message}`;
    return failure.why.kind === 'miss' ? 'not there' : `failed (${failure.why.message})`;
  }
}

/** The names a set's record gives its files, for the digests not named yet. */
function learnNames(names: Map<string, string>, record: ActionRecord): void {
  for (const [name, f] of Object.entries(record.outputs)) if (!names.has(f.digest) && SAFE_NAME.test(name)) names.set(f.digest, name);
}
