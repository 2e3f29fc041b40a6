// Placing a stored blob at a path: reflink (an independent copy for free), else hardlink (no extra
// bytes; the blob is read-only), else copy. Always via a temp name and rename.
import { constants } from 'node:fs';
import { copyFile, link, mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export type PlaceMethod = 'reflink' | 'hardlink' | 'copy';

/** Remembers per process which methods failed, so a filesystem without reflinks is asked once. */
const unsupported = new Set<PlaceMethod>();

export async function place(src: string, dest: string): Promise<PlaceMethod> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.mlc-build-${process.pid}.tmp`;
  await rm(tmp, { force: true });
  let method: PlaceMethod = 'copy';
  try {
    if (!unsupported.has('reflink') && (await attempt(() => copyFile(src, tmp, constants.COPYFILE_FICLONE_FORCE), 'reflink'))) method = 'reflink';
    else if (!unsupported.has('hardlink') && (await attempt(() => link(src, tmp), 'hardlink'))) method = 'hardlink';
    else await copyFile(src, tmp);
    await rename(tmp, dest);
    return method;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function attempt(fn: () => Promise<void>, method: PlaceMethod): Promise<boolean> {
  try {
    await fn();
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
