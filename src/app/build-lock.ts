// The project's build lock as commands and watch take it: waiting (and saying for whom) unless told
// not to. The lock lives in the store, so this is where a store the disk will not let us write is
// found, before any step runs: said as what and where, exit 2.
import { hostname } from 'node:os';
import type { Manifest } from '../manifest/types.js';
import { err, ok, type Result } from '../result.js';
import { acquireProjectLock, type HeldLock, type LockOwner } from '../store/project-lock.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writableFolderProblem } from './writable.js';

export async function lockProject(manifest: Manifest, wait: boolean): Promise<Result<HeldLock, ExitCode>> {
  const unwritable = writableFolderProblem(manifest.cache);
  if (unwritable) {
    process.stderr.write(`mlc-build: cannot write to the store ${manifest.cache}: ${unwritable} (change cache: in the manifest, or its permissions)\n`);
    return err(EXIT.usage);
  }
  const since = (o: LockOwner) => `pid ${o.pid}${o.host === hostname() ? '' : ` on ${o.host}`} since ${new Date(o.started).toTimeString().slice(0, 8)}`;
  const r = await acquireProjectLock(manifest.cache, manifest.root, {
    wait,
    onWait: (o) => process.stderr.write(`mlc-build: waiting for the build lock held by ${since(o)}\n`),
  });
  if (r.ok) return ok(r.lock);
  process.stderr.write(`mlc-build: another build of this project is running (${since(r.owner)}); not waiting (--no-wait)\n`);
  return err(EXIT.stepFailed);
}
