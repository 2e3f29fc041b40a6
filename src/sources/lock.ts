// mlc.build.lock: what each source string resolved to, so every machine builds from the same bytes
// (users commit it, like a package lock). Sorted, rewritten only when a resolution changes, and
// entries of sources the manifest no longer names are dropped. Per-machine facts (toolchain,
// library digests) never go here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { writeFileAtomic } from '../store/atomic.js';
import { isMetaFile } from './files.js';

export const LOCK_FILE = 'mlc.build.lock';

export interface LockEntry {
  kind: 'local' | 'hf' | 'git';
  /** For hub and git sources: the revision asked for and the commit it resolved to. */
  revision?: string;
  commit?: string;
  /** Selected files (meta and weights) → "sha256:<hex>". */
  files: Record<string, string>;
}

/** One distribution of a managed toolchain, as installed: pip installs exactly these bytes again. */
export interface ToolchainPin {
  name: string;
  version: string;
  sha256: string;
}

/** A managed toolchain resolved for one platform and Python ABI (e.g. `linux_x86_64-cp311`). */
export interface ToolchainLock {
  /** Digest of what the manifest asked for: a changed request is resolved again. */
  request: string;
  /** Python major.minor ("3.11"). */
  python: string;
  packages: ToolchainPin[];
}

export interface Lock {
  version: 1;
  sources: Record<string, LockEntry>;
  /** By platform key, so a Mac and a Linux runner share one lock. */
  toolchain?: Record<string, ToolchainLock>;
}

export async function readLock(root: string): Promise<Lock> {
  try {
    const lock = JSON.parse(await readFile(join(root, LOCK_FILE), 'utf8')) as Lock;
    if (lock.version === 1 && lock.sources && typeof lock.sources === 'object') return lock;
  } catch {
    // none yet
  }
  return { version: 1, sources: {} };
}

/**
 * Applies this build's resolutions (per source string and part) and writes the lock if it changed.
 * A part not resolved this time keeps its files from the lock.
 */
export async function updateLock(
  root: string,
  sourcesInManifest: ReadonlyMap<string, LockEntry['kind']>,
  resolved: ReadonlyMap<string, { part: 'meta' | 'weights'; files: Record<string, string>; commit?: string; revision?: string }[]>,
): Promise<boolean> {
  const before = await readLock(root);
  const next: Lock = { version: 1, sources: {}, ...(before.toolchain ? { toolchain: before.toolchain } : {}) };
  for (const [source, kind] of sourcesInManifest) {
    const old = before.sources[source];
    const parts = resolved.get(source) ?? [];
    if (parts.length === 0) {
      if (old) next.sources[source] = old;
      continue;
    }
    const files: Record<string, string> = {};
    const done = new Set(parts.map((p) => p.part));
    const commit = parts.find((p) => p.commit)?.commit ?? old?.commit;
    // Files of a part not read this time stay, unless the commit moved (then they are stale).
    if (commit === old?.commit) {
      for (const [name, digest] of Object.entries(old?.files ?? {})) {
        if (!done.has(isMetaFile(name) ? 'meta' : 'weights')) files[name] = digest;
      }
    }
    for (const p of parts) for (const [name, digest] of Object.entries(p.files)) files[name] = `sha256:${digest}`;
    const revision = parts.find((p) => p.revision)?.revision ?? old?.revision;
    next.sources[source] = { kind, ...(revision !== undefined ? { revision } : {}), ...(commit !== undefined ? { commit } : {}), files };
  }
  return writeLock(root, before, next);
}

/** Records (or replaces) the managed toolchain's pins for one platform key. */
export async function updateToolchainLock(root: string, platform: string, entry: ToolchainLock): Promise<boolean> {
  const before = await readLock(root);
  return writeLock(root, before, { ...before, toolchain: { ...before.toolchain, [platform]: entry } });
}

async function writeLock(root: string, before: Lock, next: Lock): Promise<boolean> {
  if (canonicalJson(next) === canonicalJson(before)) return false;
  await writeFileAtomic(join(root, LOCK_FILE), JSON.stringify(JSON.parse(canonicalJson(next)), null, 2) + '\n');
  return true;
}
