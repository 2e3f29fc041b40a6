// out/: placing outputs (reflink, hardlink or copy of a blob), checking they are in place, and
// sweeping what this tool placed that the manifest no longer names. Files the tool did not place,
// and files someone changed since it placed them, are never touched.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { environmentFailure, type StepFailure } from '../failure.js';
import { err, ok, type Result } from '../result.js';
import { place } from './materialize.js';
import { leftByDeadProcess } from './process-alive.js';
import type { ProjectState } from './project-state.js';
import type { StatCache } from './stat-cache.js';

/** A file to put into out/: where it goes, and where its bytes are. */
export interface Placement {
  dest: string;
  digest: string;
  src: string;
}

/** True if every placement's file is in out/ with its digest. */
export async function isPlaced(stats: StatCache, placements: readonly Placement[], verify: boolean): Promise<boolean> {
  for (const p of placements) {
    try {
      if ((await stats.digest(p.dest, { verify })).digest !== p.digest) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Puts each file in place unless it is there already. Each file is written under a temp name and
 * renamed, so a disk that fills up leaves the files placed before intact and no half-written one;
 * that failure is returned, naming the file.
 */
export async function placeAll(stats: StatCache, placements: readonly Placement[]): Promise<Result<void, StepFailure>> {
  for (const p of placements) {
    const current = await stats.digest(p.dest).catch(() => undefined);
    if (current?.digest === p.digest) continue;
    try {
      place(p.src, p.dest);
    } catch (e) {
      const failure = environmentFailure(e, 'placing its outputs in out/', p.dest);
      if (failure) return err(failure);
      throw e;
    }
    await stats.remember(p.dest, p.digest);
  }
  return ok(undefined);
}

/**
 * Removes from out/ the files of `state.placed` that are not in `keep`, unless they changed since
 * they were placed; forgets them either way. Returns whether the state changed.
 */
export async function sweep(stats: StatCache, state: ProjectState, keep: ReadonlySet<string>, out: string): Promise<boolean> {
  let changed = false;
  await removeDeadTemps(new Set([...keep, ...Object.keys(state.placed)].map((p) => dirname(p))));
  for (const [path, p] of Object.entries(state.placed)) {
    if (keep.has(path)) continue;
    Reflect.deleteProperty(state.placed, path);
    changed = true;
    const current = await stats.digest(path).catch(() => undefined);
    if (current?.digest !== p.digest) continue;
    await rm(path, { force: true });
    stats.forget(path);
    await removeEmptyDirs(dirname(path), out);
  }
  return changed;
}

/** Temp files of placements (`<dest>.mlc-build-<pid>.tmp`) left by a build that was killed. */
async function removeDeadTemps(dirs: ReadonlySet<string>): Promise<void> {
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (leftByDeadProcess(name, /\.mlc-build-(\d+)\.tmp$/)) await rm(join(dir, name), { force: true });
    }
  }
}

async function removeEmptyDirs(dir: string, stop: string): Promise<void> {
  while (relative(stop, dir) !== '' && !relative(stop, dir).startsWith('..')) {
    if ((await readdir(dir).catch(() => ['?'])).length > 0) return;
    await rmdir(dir).catch(() => undefined);
    dir = dirname(dir);
  }
}
