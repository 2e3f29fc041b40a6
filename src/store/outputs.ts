// out/: placing outputs (reflink, hardlink or copy of a blob), checking they are in place, and
// sweeping what this tool placed that the manifest no longer names. Files the tool did not place,
// and files someone changed since it placed them, are never touched.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { environmentFailure, type StepFailure } from '../failure.js';
import { err, ok, type Result } from '../result.js';
import { place, placeFolder, TEMP_SUFFIX, type PlaceMethod } from './materialize.js';
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
  for (const p of placements) if (!(await placedHere(stats, p, verify))) return false;
  return true;
}

/** The placements whose file is not in out/ with its digest. */
export async function notPlaced(stats: StatCache, placements: readonly Placement[], verify: boolean): Promise<Placement[]> {
  const missing: Placement[] = [];
  for (const p of placements) if (!(await placedHere(stats, p, verify))) missing.push(p);
  return missing;
}

async function placedHere(stats: StatCache, p: Placement, verify: boolean): Promise<boolean> {
  try {
    return (await stats.digestIfPresent(p.dest, { verify }))?.digest === p.digest;
  } catch {
    return false;
  }
}

/**
 * Puts each file in place unless it is there already. A folder that does not exist yet is placed
 * whole (made under a temp name, then renamed); into one that does, each file is written under a
 * temp name and renamed. So a disk that fills up leaves the files placed before intact, no
 * half-written file and no half-filled new folder; that failure is returned, naming the path.
 */
export async function placeAll(stats: StatCache, placements: readonly Placement[]): Promise<Result<void, StepFailure>> {
  const folders = new Map<string, Placement[]>();
  for (const p of await notPlaced(stats, placements, false)) {
    const dir = dirname(p.dest);
    const group = folders.get(dir);
    if (group) group.push(p);
    else folders.set(dir, [p]);
  }
  for (const [dir, group] of folders) {
    const placed = placeGroup(stats, dir, group);
    if (!placed.ok) return placed;
  }
  return ok(undefined);
}

function placeGroup(stats: StatCache, dir: string, group: readonly Placement[]): Result<void, StepFailure> {
  let at = dir;
  try {
    const methods =
      group.length > 1
        ? placeFolder(
            dir,
            group.map((p) => ({ src: p.src, name: basename(p.dest) })),
          )
        : undefined;
    if (methods) {
      group.forEach((p, i) => noteMethod(stats, p, methods[i]));
      return ok(undefined);
    }
    for (const p of group) {
      at = p.dest;
      noteMethod(stats, p, place(p.src, p.dest));
    }
    return ok(undefined);
  } catch (e) {
    const failure = environmentFailure(e, 'placing its outputs in out/', at);
    if (failure) return err(failure);
    throw e;
  }
}

/** The stat cache learns the placed file's digest; a hardlink to a blob seen in this build needs no stat. */
function noteMethod(stats: StatCache, p: Placement, method: PlaceMethod | undefined): void {
  if (method === 'hardlink') stats.rememberLink(p.dest, p.src, p.digest);
  else stats.remember(p.dest, p.digest);
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
    const current = await stats.digestIfPresent(path).catch(() => undefined);
    if (current?.digest !== p.digest) continue;
    await rm(path, { force: true });
    stats.forget(path);
    await removeEmptyDirs(dirname(path), out);
  }
  return changed;
}

/**
 * Temp files and folders of placements (`<dest>.mlc-build-<pid>.tmp`) left by a build that was
 * killed: in the folders of placed files, and in their parents (a folder placed whole).
 */
async function removeDeadTemps(dirs: ReadonlySet<string>): Promise<void> {
  for (const dir of new Set([...dirs].flatMap((d) => [d, dirname(d)]))) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (leftByDeadProcess(name, TEMP_SUFFIX)) await rm(join(dir, name), { recursive: true, force: true });
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
