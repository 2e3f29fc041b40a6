// Whether a folder the build writes (out/, the store) can be written, tried before any step runs
// by writing a probe file there: a read-only mount or a permission is then a usage error that
// names the folder, not a failure halfway through the build.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environmentFailure } from '../failure.js';

const WORDS = { 'read-only': 'it is on a read-only filesystem', 'permission-denied': 'permission denied', 'no-space': 'no space left on the device' } as const;

/** Why `dir` cannot be written, if it cannot. */
export function writableFolderProblem(dir: string): string | undefined {
  const probe = join(dir, `.mlc-build-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, '');
    return undefined;
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? e.code : undefined;
    if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file stands where a folder must be';
    const reason = environmentFailure(e, 'writing')?.reason;
    if (reason === 'read-only' || reason === 'permission-denied' || reason === 'no-space') return WORDS[reason];
    return e instanceof Error ? e.message : String(e);
  } finally {
    removeProbe(probe);
  }
}

function removeProbe(probe: string): void {
  try {
    rmSync(probe, { force: true });
  } catch {
    // Not there to remove (its folder could not be made).
  }
}
