// src/lockfile/ owns mlc.build.lock, read and written by sources and the toolchain alike.
//
// mlc.build.lock: what each source string resolved to, so every machine builds from the same bytes
// (users commit it, like a package lock), and the managed toolchain's pins per platform. Sorted,
// rewritten only when it changes. Per-machine facts (library digests) never go here. Sources and
// the toolchain both read and write it; this module owns its shape and its reading and writing,
// each of them owns how its own section is updated.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { writeFileAtomic } from '../store/atomic.js';

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
  /**
   * The wheel's file name (pip installs a file from a folder only by its name). Absent in locks
   * written before wheels were kept in the store; added the next time the wheel is fetched. Not
   * part of the toolchain's fingerprint: adding it re-keys nothing.
   */
  file?: string;
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
    const lock: unknown = JSON.parse(await readFile(join(root, LOCK_FILE), 'utf8'));
    if (isLock(lock)) return lock;
  } catch {
    // none yet
  }
  return { version: 1, sources: {} };
}

/** The shape check readLock trusts: version 1 with a sources object (the rest is as written). */
function isLock(value: unknown): value is Lock {
  if (typeof value !== 'object' || value === null || !('version' in value) || !('sources' in value)) return false;
  return value.version === 1 && typeof value.sources === 'object' && value.sources !== null;
}

/** Records (or replaces) the managed toolchain's pins for one platform key. */
export async function updateToolchainLock(root: string, platform: string, entry: ToolchainLock): Promise<boolean> {
  const before = await readLock(root);
  return writeLock(root, before, { ...before, toolchain: { ...before.toolchain, [platform]: entry } });
}

/** Writes `next` (sorted) unless it says what `before` says; true if it wrote. */
export async function writeLock(root: string, before: Lock, next: Lock): Promise<boolean> {
  if (canonicalJson(next) === canonicalJson(before)) return false;
  await writeFileAtomic(join(root, LOCK_FILE), JSON.stringify(JSON.parse(canonicalJson(next)), null, 2) + '\n');
  return true;
}
