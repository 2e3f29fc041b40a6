// Which log a build (or a watch rebuild) reports to, from --json and where stderr goes.
import type { Emit } from '../exec/events.js';
import { jsonLogger, plainLogger } from './build-log.js';
import { LiveView } from './live-view.js';

/** The build log: NDJSON on stdout, the live view on a terminal, else plain lines on stderr. */
export function buildLog(json: boolean, total: number): { observe: Emit; stop(): void } {
  if (json) return { observe: jsonLogger(batched(process.stdout)), stop: () => {} };
  if (isInteractive()) {
    const view = new LiveView(process.stderr, total);
    return { observe: view.observe, stop: () => view.stop() };
  }
  return { observe: plainLogger(batched(process.stderr)), stop: () => {} };
}

/**
 * Writes to the stream, gathering what is written in one turn of the event loop into one write: a
 * restore of a thousand steps is a thousand lines, and each write to a pipe is a system call. The
 * stream keeps the order of everything written to it, through this or not.
 */
function batched(stream: NodeJS.WriteStream): (s: string) => void {
  let corked = false;
  return (s) => {
    if (!corked) {
      corked = true;
      stream.cork();
      setImmediate(() => {
        corked = false;
        stream.uncork();
      });
    }
    stream.write(s);
  };
}

/** stderr is a terminal that can redraw, and no CI log is being written. */
export function isInteractive(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- isTTY is undefined, not false, when stderr is no terminal (its type says boolean)
  return process.stderr.isTTY === true && process.env.TERM !== 'dumb' && !process.env.CI;
}
