// Free space on the filesystem that will hold a path: asked before a download or a plan writes
// gigabytes, so that a full disk is said up front rather than half-way.
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Free bytes (for an unprivileged user) where `path` is or will be: the nearest existing folder is asked. */
export async function freeBytes(path: string): Promise<number | undefined> {
  for (let p = path; ; p = dirname(p)) {
    const st = await statfs(p).catch(() => undefined);
    if (st) return st.bavail * st.bsize;
    if (dirname(p) === p) return undefined;
  }
}
