// Whether a folder the build writes (out/, the store) can be written, found before any step runs:
// a read-only mount or a permission is then a usage error that names the folder, not a failure
// halfway through the build. Asked with access(2), which answers EROFS and EACCES without writing
// anything, so a process killed at any moment leaves no probe file behind; probe files an older
// mlc-build left (`.mlc-build-probe-<pid>` of a dead process) are removed here.
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { environmentFailure } from '../failure.js';
import { leftByDeadProcess } from '../store/process-alive.js';

const WORDS = { 'read-only': 'it is on a read-only filesystem', 'permission-denied': 'permission denied', 'no-space': 'no space left on the device' } as const;
const PROBE = /^\.mlc-build-probe-(\d+)$/;

/** Why `dir` cannot be written, if it cannot. */
export function writableFolderProblem(dir: string): string | undefined {
  try {
    accessSync(nearestExisting(dir), constants.W_OK);
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    removeDeadProbes(dir);
    return undefined;
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? e.code : undefined;
    if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file stands where a folder must be';
    const reason = environmentFailure(e, 'writing')?.reason;
    if (reason === 'read-only' || reason === 'permission-denied' || reason === 'no-space') return WORDS[reason];
    return e instanceof Error ? e.message : String(e);
  }
}

/** Probe files of processes that died between writing and removing them. */
export function removeDeadProbes(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (leftByDeadProcess(name, PROBE)) rmSync(join(dir, name), { force: true });
}

/** `dir`, or the nearest folder above it that exists (a read-only mount answers there). */
function nearestExisting(dir: string): string {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}
