// Placing a stored blob at a path: reflink (an independent copy for free), else hardlink (no extra
// bytes; the blob is read-only), else copy. Always via a temp name and rename. Synchronous on
// purpose: each call is a few syscalls of microseconds, and restoring a folder is hundreds of them.
import { constants, copyFileSync, linkSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

export type PlaceMethod = 'reflink' | 'hardlink' | 'copy';

/** Remembers per process which methods failed, so a filesystem without reflinks is asked once. */
const unsupported = new Set<PlaceMethod>();
const madeDirs = new Set<string>();

export function place(src: string, dest: string): PlaceMethod {
  const dir = dirname(dest);
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
  }
  const tmp = `${dest}.mlc-build-${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // left over by a killed run
  let method: PlaceMethod = 'copy';
  try {
    if (!unsupported.has('reflink') && attempt(() => copyFileSync(src, tmp, constants.COPYFILE_FICLONE_FORCE), 'reflink')) method = 'reflink';
    else if (!unsupported.has('hardlink') && attempt(() => linkSync(src, tmp), 'hardlink')) method = 'hardlink';
    else copyFileSync(src, tmp);
    renameSync(tmp, dest);
    return method;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
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
