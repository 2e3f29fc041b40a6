// What can go wrong on the wire, as values: a reason a caller can switch on (retry it, call it a
// miss, tell the user which timeout fired) and a message a person can read.
export type TimeoutPhase = 'connect' | 'first-byte' | 'idle';

export type NetFailure =
  | { reason: 'timeout'; phase: TimeoutPhase; message: string }
  /** Refused, reset, cut mid-body, a name that does not resolve. `code` is the system's (ECONNRESET…). */
  | { reason: 'connection'; code: string; message: string }
  | { reason: 'http-status'; status: number; message: string }
  | { reason: 'digest-mismatch'; expected: string; actual: string; message: string }
  | { reason: 'size-mismatch'; expected: number; actual: number; message: string }
  /** A small body over the caller's limit. */
  | { reason: 'too-large'; limit: number; message: string }
  /** The bytes could not be written where they go (a full disk). */
  | { reason: 'write'; message: string }
  | { reason: 'aborted'; message: string };

export type NetReason = NetFailure['reason'];

export function timeoutFailure(phase: TimeoutPhase, ms: number): NetFailure {
  const message =
    phase === 'connect'
      ? `no connection after ${seconds(ms)}`
      : phase === 'first-byte'
        ? `no data for ${seconds(ms)} after the request was sent (no response)`
        : `no data for ${seconds(ms)} in the middle of the response`;
  return { reason: 'timeout', phase, message };
}

export function abortedFailure(): NetFailure {
  return { reason: 'aborted', message: 'cancelled' };
}

export function statusFailure(status: number): NetFailure {
  return { reason: 'http-status', status, message: `HTTP ${status}` };
}

export function sizeFailure(expected: number, actual: number): NetFailure {
  return { reason: 'size-mismatch', expected, actual, message: `${actual} bytes where ${expected} were expected` };
}

/** A socket error as a connection failure, with its system code when it has one. */
export function connectionFailure(e: unknown, context?: string): NetFailure {
  const code = errorCode(e) ?? 'ECONNRESET';
  const text = e instanceof Error ? e.message : String(e);
  return { reason: 'connection', code, message: context ? `${context} (${text})` : text };
}

/** Worth another try: the network or the server may do better in a moment. */
export function transient(f: NetFailure): boolean {
  switch (f.reason) {
    case 'timeout':
    case 'connection':
      return true;
    case 'http-status':
      return f.status >= 500 || f.status === 429;
    case 'digest-mismatch':
    case 'size-mismatch':
    case 'too-large':
    case 'write':
    case 'aborted':
      return false;
  }
}

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  return typeof e.code === 'string' ? e.code : undefined;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
