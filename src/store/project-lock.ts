// One build per project at a time. The lock belongs to the project (keyed by its root), not to
// the store, so projects sharing a store do not serialise each other.
//
// Why not a staleness timer (proper-lockfile's model): a build hashing gigabytes can keep its event
// loop busy past any timer and would lose its lock while alive. Here the lock is a directory made
// atomically, holding its owner's pid, host and start time; it is taken over only when that pid
// is gone on this host.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sha256 } from './hash.js';
import { isAlive } from './process-alive.js';

export interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

export interface HeldLock {
  release(): Promise<void>;
}

export function lockDir(storeRoot: string, projectRoot: string): string {
  return join(storeRoot, 'projects', `${sha256(projectRoot).slice(0, 16)}.lock`);
}

async function owner(dir: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/**
 * Takes the project's lock. If another live build holds it: with `wait`, calls `onWait(owner)`
 * once and polls until it is free; without, returns the owner.
 */
export async function acquireProjectLock(
  storeRoot: string,
  projectRoot: string,
  opts: { wait: boolean; onWait: (o: LockOwner) => void; pollMs?: number },
): Promise<{ ok: true; lock: HeldLock } | { ok: false; owner: LockOwner }> {
  const dir = lockDir(storeRoot, projectRoot);
  await mkdir(join(storeRoot, 'projects'), { recursive: true });
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  let told = false;
  let emptySince: number | undefined;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(join(dir, 'owner.json'), JSON.stringify(me));
      return { ok: true, lock: { release: () => rm(dir, { recursive: true, force: true }) } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const o = await owner(dir);
    if (o && o.host === me.host && !isAlive(o.pid)) {
      await rm(dir, { recursive: true, force: true }); // its build died: take over at once
      continue;
    }
    if (!o) {
      // Made but not yet written (its owner is between two syscalls), or left by a crash there.
      emptySince ??= Date.now();
      if (Date.now() - emptySince > 2000) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
    } else {
      emptySince = undefined;
      if (!opts.wait) return { ok: false, owner: o };
      if (!told) {
        told = true;
        opts.onWait(o);
      }
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
  }
}
