// Placing a stored blob at a path: reflink (an independent copy for free), else hardlink (no extra
// bytes; the blob is read-only), else copy. Always via a temp name and rename: a file, or a whole
// folder that does not exist yet (then its files appear together). Synchronous on purpose: each call
// is a few syscalls of microseconds, and restoring a folder is hundreds of them.
import { constants, copyFileSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type PlaceMethod = 'reflink' | 'hardlink' | 'copy';

/** Remembers per process which methods failed, so a filesystem without reflinks is asked once. */
const unsupported = new Set<PlaceMethod>();
const madeDirs = new Set<string>();

/** The suffix of what a placement writes before its rename; `.mlc-build-<pid>.tmp`. */
export const TEMP_SUFFIX = /\.mlc-build-(\d+)\.tmp$/;
const tempName = (path: string) => `${path}.mlc-build-${process.pid}.tmp`;

/** Places one file: written under a temp name beside `dest`, then renamed over it. */
export function place(src: string, dest: string): PlaceMethod {
  const tmp = tempName(dest);
  try {
    const method = intoFolder(dirname(dest), () => materialize(src, tmp));
    renameSync(tmp, dest);
    return method;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Places a folder that does not exist yet as one unit: its files made in a temp folder beside it,
 * which is then renamed into place, so the folder appears whole or not at all; one rename instead
 * of one per file. Undefined, with nothing placed, when the folder exists (or appears meanwhile).
 */
export function placeFolder(dir: string, files: readonly { src: string; name: string }[]): PlaceMethod[] | undefined {
  if (statSync(dir, { throwIfNoEntry: false }) !== undefined) return undefined;
  const tmp = tempName(dir);
  try {
    intoFolder(dirname(dir), () => {
      rmSync(tmp, { recursive: true, force: true }); // left by an earlier process with our pid
      mkdirSync(tmp);
    });
    const methods = files.map((f) => materialize(f.src, join(tmp, f.name)));
    try {
      renameSync(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return undefined;
      throw e;
    }
    madeDirs.add(dir);
    return methods;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs `make` (which writes into `dir`), creating `dir` first when it is not known to exist. */
function intoFolder<T>(dir: string, make: () => T): T {
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
    return make();
  }
  try {
    return make();
  } catch (e) {
    // Removed since this process made it (watch mode, someone ran rm -rf out/): make it again.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dir, { recursive: true });
    return make();
  }
}

/** Makes `dest` (a path nothing is at, or a leftover temp) a reflink, hardlink or copy of `src`. */
function materialize(src: string, dest: string): PlaceMethod {
  if (!unsupported.has('reflink') && attempt(() => copyFileSync(src, dest, constants.COPYFILE_FICLONE_FORCE), 'reflink')) return 'reflink';
  if (!unsupported.has('hardlink') && attempt(() => link(src, dest), 'hardlink')) return 'hardlink';
  copyFileSync(src, dest);
  return 'copy';
}

function link(src: string, dest: string): void {
  try {
    linkSync(src, dest);
  } catch (e) {
    // A temp left by a killed process with our pid: replace it.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    rmSync(dest, { force: true });
    linkSync(src, dest);
  }
}

function attempt(fn: () => void, method: PlaceMethod): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Not supported here (another filesystem, no reflinks): fall back, and remember.
    if (code === 'EXDEV' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EINVAL' || code === 'ENOSYS' || code === 'EPERM' || code === 'EMLINK') {
      if (code !== 'EMLINK') unsupported.add(method);
      return false;
    }
    throw e;
  }
}
