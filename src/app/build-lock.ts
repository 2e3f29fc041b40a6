// The project's build lock as commands and watch take it: waiting (and saying for whom) unless told not to.
import { hostname } from 'node:os';
import type { Manifest } from '../manifest/types.js';
import { acquireProjectLock, type HeldLock, type LockOwner } from '../store/project-lock.js';

export async function lockProject(manifest: Manifest, wait: boolean): Promise<HeldLock | undefined> {
  const since = (o: LockOwner) => `pid ${o.pid}${o.host === hostname() ? '' : ` on ${o.host}`} since ${new Date(o.started).toTimeString().slice(0, 8)}`;
  const r = await acquireProjectLock(manifest.cache, manifest.root, {
    wait,
    onWait: (o) => process.stderr.write(`mlc-build: waiting for the build lock held by ${since(o)}\n`),
  });
  if (r.ok) return r.lock;
  process.stderr.write(`mlc-build: another build of this project is running (${since(r.owner)}); not waiting (--no-wait)\n`);
  return undefined;
}
