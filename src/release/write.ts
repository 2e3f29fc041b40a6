// Writing a release folder whole or not at all: everything goes into a staging folder beside it,
// which then takes its place (an earlier release there is replaced only once the new one is
// complete). Files from the store are reflinked, hardlinked or copied (materialize.ts).
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { place } from '../store/materialize.js';
import { err, ok, type Result } from '../result.js';

export const INVENTORY = 'release.json';

export interface ReleaseContents {
  /** Files whose bytes are elsewhere (the store, out/), with their sha256 and size. */
  placed: { path: string; from: string; digest: string; size: number }[];
  /** Files made by the release. */
  written: { path: string; data: string }[];
}

/** Why `dir` may not be replaced, if it may not: it holds something other than an earlier release. */
export function replaceProblem(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return `${dir} is not a folder`;
  }
  if (entries.length === 0 || entries.includes(INVENTORY)) return undefined;
  return `${dir} exists and is not a release (no ${INVENTORY} in it): remove it or choose another --out`;
}

let writes = 0;

export async function writeRelease(dir: string, contents: ReleaseContents): Promise<Result<void, string>> {
  const problem = replaceProblem(dir);
  if (problem) return err(problem);
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  // A name of its own per write: publish writes the folder twice in one process, and place()
  // remembers the folders it made (the first staging folder's are gone once it was renamed).
  // Stryker disable next-line UpdateOperator: counting down keeps each write's name its own too
  const n = ++writes;
  const staging = join(parent, `.${basename(dir)}.mlc-build-${process.pid}-${n}.tmp`);
  const old = join(parent, `.${basename(dir)}.mlc-build-${process.pid}-${n}.old`);
  await rm(staging, { recursive: true, force: true });
  try {
    for (const f of contents.placed) place(f.from, join(staging, f.path));
    for (const f of contents.written) {
      await mkdir(dirname(join(staging, f.path)), { recursive: true });
      await writeFile(join(staging, f.path), f.data);
    }
    const had = existsSync(dir);
    if (had) await rename(dir, old);
    try {
      await rename(staging, dir);
    } catch (e) {
      if (had) await rename(old, dir);
      throw e;
    }
    await rm(old, { recursive: true, force: true });
    return ok(undefined);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    return err(`could not write ${dir}: ${(e as Error).message}`);
  }
}
