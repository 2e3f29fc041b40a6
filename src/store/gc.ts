// Garbage collection of the store: action records least recently used first, then the blobs no
// record refers to any more. What the current manifest's last build used is kept (unless --all),
// and so are the roots: blobs the project pins by digest (its toolchain's wheels), whatever their
// age, since an index may no longer serve them.
// The plan is pure (planGc) so its rules are tested apart from the disk.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { leftByDeadProcess } from './process-alive.js';
import type { ActionRecord } from './store.js';
import { must } from '../must.js';

export interface RecordInfo {
  key: string;
  node: string;
  /** Digests of its outputs and its log. */
  blobs: string[];
  /** When a build last used it (the record file's mtime; builds touch what they use). */
  lastUsed: number;
}

export interface BlobInfo {
  size: number;
  /** Links to the blob: more than one means out/ folders still hold it (deleting frees nothing). */
  nlink: number;
  mtime: number;
}

export interface Inventory {
  records: RecordInfo[];
  blobs: Map<string, BlobInfo>;
}

export interface GcOptions {
  maxSize?: number;
  maxAge?: number;
  /** Record keys never removed (the current manifest's), unless `all`. */
  keep: ReadonlySet<string>;
  /** Blobs never removed, referenced or not, old or not (the wheels the lock pins), unless `all`. */
  roots?: ReadonlySet<string>;
  all: boolean;
  now: number;
}

export interface GcPlan {
  records: RecordInfo[];
  blobs: string[];
  sizeBefore: number;
  sizeAfter: number;
  /** Bytes the disk gets back: removed blobs with no other link. */
  freed: number;
  /** Bytes of removed blobs still linked from out/ folders. */
  stillLinked: number;
  /** Over max_size after removing every record that may go. */
  overLimit: boolean;
}

/**
 * Blobs no record refers to are written by a build just before its record: a younger one may
 * belong to a build still running (another project sharing the store).
 */
export const ORPHAN_GRACE_MS = 3600_000;

export function planGc(inv: Inventory, opts: GcOptions): GcPlan {
  const refs = new Map<string, number>();
  for (const r of inv.records) for (const d of new Set(r.blobs)) refs.set(d, (refs.get(d) ?? 0) + 1);
  const sizeBefore = [...inv.blobs.values()].reduce((a, b) => a + b.size, 0);
  let size = sizeBefore;
  const blobs: string[] = [];
  const drop = (digest: string) => {
    const b = inv.blobs.get(digest);
    if (!b || (!opts.all && opts.roots?.has(digest) === true)) return;
    blobs.push(digest);
    size -= b.size;
  };
  for (const [digest, b] of inv.blobs) if (!refs.has(digest) && opts.now - b.mtime > ORPHAN_GRACE_MS) drop(digest);

  const candidates = inv.records.filter((r) => opts.all || !opts.keep.has(r.key)).sort((a, b) => a.lastUsed - b.lastUsed || a.key.localeCompare(b.key));
  const records: RecordInfo[] = [];
  const remove = (r: RecordInfo) => {
    records.push(r);
    for (const d of new Set(r.blobs)) {
      const left = must(refs, d, 'reference count of the blob') - 1;
      refs.set(d, left);
      if (left === 0) drop(d);
    }
  };
  let i = 0;
  if (opts.maxAge !== undefined) {
    for (; i < candidates.length && opts.now - (candidates[i] as RecordInfo).lastUsed > opts.maxAge; i++) remove(candidates[i] as RecordInfo);
  }
  if (opts.maxSize !== undefined) {
    for (; i < candidates.length && size > opts.maxSize; i++) remove(candidates[i] as RecordInfo);
  }
  let freed = 0;
  let stillLinked = 0;
  for (const d of blobs) {
    const b = must(inv.blobs, d, 'blob');
    if (b.nlink > 1) stillLinked += b.size;
    else freed += b.size;
  }
  return { records, blobs, sizeBefore, sizeAfter: size, freed, stillLinked, overLimit: opts.maxSize !== undefined && size > opts.maxSize };
}

/** Reads every record and blob of the store (stat calls; records are small JSON files). */
export async function inventory(root: string): Promise<Inventory> {
  const records: RecordInfo[] = [];
  for (const file of await filesIn(join(root, 'ac'))) {
    if (!file.endsWith('.json') || file.endsWith('.fields.json')) continue;
    try {
      const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
      const r = JSON.parse(text) as ActionRecord;
      records.push({ key: r.key, node: r.node, blobs: [...Object.values(r.outputs).map((o) => o.digest), ...(r.log ? [r.log] : [])], lastUsed: st.mtimeMs });
    } catch {
      // removed meanwhile, or not a record
    }
  }
  const blobs = new Map<string, BlobInfo>();
  for (const file of await filesIn(join(root, 'cas'))) {
    const st = await stat(file).catch(() => undefined);
    const digest = file.slice(file.lastIndexOf('/') + 1);
    if (st && /^[0-9a-f]{64}$/.test(digest)) blobs.set(digest, { size: st.size, nlink: st.nlink, mtime: st.mtimeMs });
  }
  return { records, blobs };
}

/** Sum of the blobs' sizes: what the store holds. */
export async function storeSize(root: string): Promise<number> {
  let size = 0;
  for (const file of await filesIn(join(root, 'cas'))) size += (await stat(file).catch(() => undefined))?.size ?? 0;
  return size;
}

/** Removes the plan's records (record, then its fields) and blobs; returns the blob paths removed. */
export async function applyGc(root: string, plan: GcPlan): Promise<string[]> {
  for (const r of plan.records) {
    const base = join(root, 'ac', r.key.slice(0, 2), r.key);
    await rm(`${base}.json`, { force: true });
    await rm(`${base}.fields.json`, { force: true });
  }
  const paths = plan.blobs.map((d) => join(root, 'cas', d.slice(0, 2), d));
  for (const p of paths) await rm(p, { force: true });
  await removeDeadTemps(join(root, 'ac'));
  return paths;
}

/** Temp files of atomic writes (`<file>.<pid>.<hex>.tmp`) whose writer died before renaming them. */
async function removeDeadTemps(dir: string): Promise<void> {
  for (const file of await filesIn(dir)) {
    if (leftByDeadProcess(file, /\.(\d+)\.[0-9a-f]+\.tmp$/)) await rm(file, { force: true });
  }
}

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(dir).catch(() => [] as string[])) {
    for (const name of await readdir(join(dir, sub)).catch(() => [] as string[])) out.push(join(dir, sub, name));
  }
  return out;
}
