// The sources' section of mlc.build.lock: a build's resolutions replace what the lock held for them,
// and entries of sources the manifest no longer names are dropped.
import { readLock, writeLock, type Lock, type LockEntry } from '../lockfile/lock-file.js';
import { isMetaFile } from './files.js';

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
