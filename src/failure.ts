// Why a node did not produce its outputs, as a value: a reason from a closed list, and what the
// user reads. Errors from the user's environment (a full disk, a read-only mount, a permission)
// are classified where the engine meets them, naming what it was doing and the path, so they read
// as what they are and never as a bug in mlc-build. Only what is left over is `internal`.

export type FailureReason =
  /** The step's command failed, wrote incomplete outputs or changed its inputs. */
  | 'step-failed'
  /** Found before running: this machine cannot run it (no toolchain, another host's library), or it failed before with these inputs. */
  | 'blocked'
  /** Its inputs cannot be had here (a source that cannot be resolved or read). */
  | 'unavailable'
  /** A download did not complete (the hub or a git remote unreachable, refused, or cut). */
  | 'source-unreachable'
  /** Bytes did not match their digest. */
  | 'verification-failed'
  | 'no-space'
  | 'permission-denied'
  | 'read-only'
  /** Stopped while it ran: the build was interrupted, or watch cancelled it. */
  | 'cancelled'
  /** A bug in mlc-build. */
  | 'internal';

export interface StepFailure {
  reason: FailureReason;
  message: string;
  /** The file or folder a disk failure happened at. */
  path?: string;
  /** What to do about it. */
  advice?: string;
  argv?: string[];
  /** Commands to run before `argv` when it is run by hand (`mkdir -p` of its output folder). */
  setup?: string[][];
  /** Variables the command is run with on top of the build's (a target's env:). */
  env?: Record<string, string>;
  exitCode?: number | null;
  signal?: string | null;
  log?: string;
  tail?: string[];
}

/** The reasons that come from the user's disk rather than from the step or from mlc-build. */
export const DISK_REASONS: ReadonlySet<FailureReason> = new Set(['no-space', 'permission-denied', 'read-only']);

const BY_ERRNO: Readonly<Record<string, { reason: FailureReason; words: string; advice: string }>> = {
  ENOSPC: { reason: 'no-space', words: 'no space left on the device', advice: 'free some space (mlc-build gc trims the store), then build again' },
  EDQUOT: { reason: 'no-space', words: 'the disk quota is used up', advice: 'free some space or raise the quota, then build again' },
  EROFS: { reason: 'read-only', words: 'it is on a read-only filesystem', advice: 'point out:/cache: at a writable folder, or remount it read-write' },
  EACCES: { reason: 'permission-denied', words: 'permission denied', advice: 'check the owner and mode of the folder' },
  EPERM: { reason: 'permission-denied', words: 'operation not permitted', advice: 'check the owner and mode of the folder' },
};

/**
 * A failure for an error of the user's environment met while `doing` something (e.g. "placing
 * outputs in out/"), at `at` when the caller knows the path best, or undefined when the error is
 * not one (a bug, to be reported as internal).
 */
export function environmentFailure(e: unknown, doing: string, at?: string): StepFailure | undefined {
  if (!(e instanceof Error) || !('code' in e) || typeof e.code !== 'string') return undefined;
  const known = BY_ERRNO[e.code];
  if (!known) return undefined;
  // A copy or rename names its source as `path` and where it writes as `dest`: the latter failed.
  const path = at ?? stringField(e, 'dest') ?? stringField(e, 'path');
  const where = path === undefined ? '' : ` at ${path}`;
  return { reason: known.reason, message: `${doing}: ${known.words}${where}`, advice: known.advice, ...(path === undefined ? {} : { path }) };
}

/** An exception that is not the environment's: a bug in mlc-build, reported with the stack. */
export function internalFailure(e: unknown, node: string): StepFailure {
  const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
  return { reason: 'internal', message: `internal error while building ${node}: ${text}` };
}

/** An exception met while `doing` something: the environment's if it is one, else a bug. */
export function failureOf(e: unknown, doing: string, node: string): StepFailure {
  return environmentFailure(e, doing) ?? internalFailure(e, node);
}

function stringField(e: Error, name: string): string | undefined {
  const value: unknown = Reflect.get(e, name);
  return typeof value === 'string' ? value : undefined;
}
