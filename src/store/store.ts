// src/store/ owns what is kept on disk: the CAS and action records (this file), the stat cache,
// the action cache and the remote cache (remote/), placing outputs in out/, locks, gc.
//
// The store (`cache:`): cas/ read-only blobs by sha256, ac/ action records by key, the stat cache,
// logs and staging. Only a complete, hashed result is recorded, and the record is written last.
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { err, ok, type Result } from '../result.js';
import { writeFileAtomic } from './atomic.js';
import { hashFile, type FileDigest } from './hash.js';
import { leftByDeadProcess } from './process-alive.js';
import { StatCache } from './stat-cache.js';

export interface StoredFile {
  digest: string;
  size: number;
}
/** Files by path relative to a step's output folder. */
export type Tree = Record<string, StoredFile>;

/** A node's outputs: file name → digest, size and a readable path (the user's file, or a blob). */
export type Files = Record<string, StoredFile & { path: string }>;

/** Why a blob written into the store did not enter it: the writer's reason, or the store's (a wrong digest). */
export type IngestFailure<Why> = { stage: 'write'; why: Why } | { stage: 'store'; message: string };

export interface ActionRecord {
  key: string;
  node: string;
  outputs: Tree;
  /** Digest of the step's log in the CAS. */
  log?: string;
  /** Figures the step's log reported (a compile's memory needs), read by `release`. */
  facts?: Record<string, number>;
  durationMs: number;
  createdAt: string;
}

/** A record's key fields, kept beside it (only `explain` and plan reasons read them). */
export type KeyFieldsRecord = Record<string, unknown>;

export class Store {
  readonly name: string;
  private constructor(
    readonly root: string,
    readonly stats: StatCache,
    /** Opened to look, not to build: creates nothing on disk. */
    readonly readOnly: boolean,
  ) {
    this.name = root;
  }

  static async open(root: string, opts: { readOnly?: boolean } = {}): Promise<Store> {
    if (!opts.readOnly) {
      await Promise.all(['cas', 'ac', 'tmp', 'logs', 'projects'].map((d) => mkdir(join(root, d), { recursive: true })));
      await removeDeadStaging(join(root, 'tmp'));
    }
    return new Store(root, await StatCache.load(join(root, STAT_CACHE_FILE)), opts.readOnly ?? false);
  }

  blobPath(digest: string): string {
    return `${this.root}/cas/${digest.slice(0, 2)}/${digest}`;
  }

  /** True if the blob is present and still has its digest (trusting the stat cache unless verify). */
  async hasBlob(digest: string, opts: { verify?: boolean } = {}): Promise<boolean> {
    try {
      return (await this.stats.digest(this.blobPath(digest), opts)).digest === digest;
    } catch {
      return false;
    }
  }

  /** Moves every file under `dir` into the CAS and returns their tree. `dir` is left empty. */
  async ingestDir(dir: string): Promise<Tree> {
    const tree: Tree = {};
    const files = await listFiles(dir);
    // Hashed in parallel (a convert's shards, one per core), then moved in one after another.
    const digests = await Promise.all(files.map((file) => hashFile(file)));
    for (const [i, file] of files.entries()) {
      const { digest, size } = digests[i] as FileDigest;
      await this.ingestFile(file, digest);
      tree[relative(dir, file).split(sep).join('/')] = { digest, size };
    }
    return tree;
  }

  /** Moves a file whose digest is known into the CAS (dropping it if a good copy is there). */
  async ingestFile(file: string, digest: string): Promise<void> {
    const blob = this.blobPath(digest);
    if (await this.hasBlob(digest)) {
      await rm(file, { force: true });
      return;
    }
    await mkdir(join(blob, '..'), { recursive: true });
    await chmod(file, 0o444);
    await rename(file, blob); // replaces a corrupt blob, if there was one
    this.stats.remember(blob, digest);
  }

  /** Copies a file into the CAS (the file stays); its digest. */
  async ingestCopy(file: string): Promise<string> {
    const tmp = join(this.root, 'tmp', `copy@${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    try {
      await copyFile(file, tmp);
      const { digest } = await hashFile(tmp);
      await this.ingestFile(tmp, digest);
      return digest;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Takes a blob that `write` puts into a file of the store's tmp folder, hashing the bytes as it
   * writes them (a download): it enters the CAS only if that hash is `digest`. The file is removed
   * whatever happened, so a partial or wrong blob never stays. `write` answers the sha256 of what
   * it wrote, or why it wrote nothing worth keeping.
   */
  async ingestWritten<Why>(digest: string, write: (path: string) => Promise<Result<string, Why>>): Promise<Result<void, IngestFailure<Why>>> {
    if (await this.hasBlob(digest)) return ok(undefined);
    const tmp = join(this.root, 'tmp', `blob-${digest.slice(0, 16)}@${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    try {
      const written = await write(tmp);
      if (!written.ok) return err({ stage: 'write', why: written.error });
      const got = written.value;
      if (got !== digest) return err({ stage: 'store', message: `blob ${digest.slice(0, 12)}… arrived with digest ${got.slice(0, 12)}…; refused` });
      await this.ingestFile(tmp, digest);
      return ok(undefined);
    } catch (e) {
      return err({ stage: 'store', message: `blob ${digest.slice(0, 12)}…: ${(e as Error).message}` });
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** A record's outputs as readable files (the blobs). */
  filesOf(record: ActionRecord): Files {
    return Object.fromEntries(Object.entries(record.outputs).map(([n, f]) => [n, { ...f, path: this.blobPath(f.digest) }]));
  }

  private recordPath(key: string, suffix = ''): string {
    return `${this.root}/ac/${key.slice(0, 2)}/${key}${suffix}.json`;
  }

  getRecord(key: string): Promise<ActionRecord | undefined> {
    // Records are small: read synchronously (see StatCache.digest).
    return Promise.resolve(readJson(this.recordPath(key)) as ActionRecord | undefined);
  }

  /** Writes the record last: the fields first, then the record that makes the result count. */
  async putRecord(record: ActionRecord, fields: KeyFieldsRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(record.key, '.fields'), JSON.stringify(fields));
    await writeFileAtomic(this.recordPath(record.key), JSON.stringify(record));
  }

  /** Marks records as used now (their mtime): gc removes the least recently used first. */
  async touch(keys: Iterable<string>): Promise<void> {
    const now = new Date();
    await Promise.all([...keys].map((k) => utimes(this.recordPath(k), now, now).catch(() => undefined)));
  }

  getFields(key: string): Promise<KeyFieldsRecord | undefined> {
    return Promise.resolve(readJson(this.recordPath(key, '.fields')) as KeyFieldsRecord | undefined);
  }

  /** True if every output blob of the record is present and intact. */
  async hasOutputs(record: ActionRecord, opts: { verify?: boolean } = {}): Promise<boolean> {
    for (const f of Object.values(record.outputs)) if (!(await this.hasBlob(f.digest, opts))) return false;
    return true;
  }

  /** A fresh staging folder, named after its owner's pid so a later build can clear it if it died. */
  async staging(name: string): Promise<string> {
    return mkdtemp(join(this.root, 'tmp', `${name.replace(/[^\w.-]+/g, '_').slice(0, 80)}@${process.pid}-`));
  }

  logPath(nodeId: string): string {
    return join(this.root, 'logs', `${nodeId.replace(/[^\w.-]+/g, '_')}.log`);
  }

  async close(): Promise<void> {
    // Read-only commands keep the digests they computed too (the stat cache is a cache): the next
    // plan of a large local model then hashes nothing. They merge, so a running build loses nothing.
    await this.stats.save({ merge: this.readOnly });
  }
}

/** The stat cache's file in the store. */
export const STAT_CACHE_FILE = 'stat-cache.json';

/** Where a running step's process group id is kept, in its staging folder. */
export const STEP_PID_FILE = 'step.pid';

/**
 * Clears what a build that died (kill -9, a crash, a power cut) left: it stops the step processes
 * it had started (their own process groups outlive it), then removes their staging folders.
 * Best effort: what cannot be removed now is tried again by the next build.
 */
async function removeDeadStaging(tmp: string): Promise<void> {
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!leftByDeadProcess(name, /@(\d+)-[^-]*$/)) continue;
    const step = Number(await readFile(join(tmp, name, STEP_PID_FILE), 'utf8').catch(() => ''));
    if (step > 0) {
      try {
        process.kill(-step, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(join(tmp, name), { recursive: true, force: true, maxRetries: 3, retryDelay: 50 }).catch(() => undefined);
  }
}

export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out.sort();
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A JSON file this store wrote (an action record, its fields), or undefined if it cannot be read. */
function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
