// When the remote is asked no more in this build, per direction (reads, writes). A timeout opens
// both at once: a server that let one request wait that long lets the next wait as long, and a
// second round of timeouts is what a build must not pay. A refused or cut connection is the
// server's too, so it counts for both; an HTTP status (a 5xx, a 413) counts for its direction.
// Opening a direction aborts what is under way that way, queued work included.
import { setMaxListeners } from 'node:events';
import type { NetFailure } from '../../net/index.js';

export type Direction = 'read' | 'write';

/** Failures of one direction after which the remote is not asked again in this build. */
export const MAX_FAILURES = 3;

export class Circuit {
  private readonly failures: Record<Direction, number> = { read: 0, write: 0 };
  private readonly controllers: Record<Direction, AbortController> = { read: new AbortController(), write: new AbortController() };

  constructor() {
    // Every request of a direction listens to its signal, dozens at once: not a leak, and node's warning about one would reach the user.
    setMaxListeners(0, this.controllers.read.signal, this.controllers.write.signal);
  }

  isOpen(direction: Direction): boolean {
    return this.controllers[direction].signal.aborted;
  }

  /** Aborted when the direction opens: requests under way stop, and none is sent after. */
  signal(direction: Direction): AbortSignal {
    return this.controllers[direction].signal;
  }

  /** Counts a failure; the directions it opened (none, most of the time). */
  fail(direction: Direction, failure: NetFailure): Direction[] {
    const server = failure.reason === 'timeout' || failure.reason === 'connection';
    const opened: Direction[] = [];
    for (const d of server ? (['read', 'write'] as const) : [direction]) {
      if (this.isOpen(d)) continue;
      this.failures[d] = failure.reason === 'timeout' ? MAX_FAILURES : this.failures[d] + 1;
      if (this.failures[d] < MAX_FAILURES) continue;
      this.controllers[d].abort();
      opened.push(d);
    }
    return opened;
  }
}
