/** True if a process with this pid runs on this machine (EPERM: it runs, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True if `name` (a temp file or staging folder) carries, as `pattern`'s first group, the pid of a
 * process that has died: what it left can go. Our own and live owners' files are kept.
 */
export function leftByDeadProcess(name: string, pattern: RegExp): boolean {
  const pid = Number(pattern.exec(name)?.[1]);
  return pid > 0 && pid !== process.pid && !isAlive(pid);
}
