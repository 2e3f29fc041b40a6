// Which log a build (or a watch rebuild) reports to, from --json and where stderr goes.
import type { Emit } from '../exec/events.js';
import { jsonLogger, plainLogger } from './build-log.js';
import { LiveView } from './live-view.js';

/** The build log: NDJSON on stdout, the live view on a terminal, else plain lines on stderr. */
export function buildLog(json: boolean, total: number): { observe: Emit; stop(): void } {
  if (json) return { observe: jsonLogger((s) => process.stdout.write(s)), stop: () => {} };
  if (isInteractive()) {
    const view = new LiveView(process.stderr, total);
    return { observe: view.observe, stop: () => view.stop() };
  }
  return { observe: plainLogger((s) => process.stderr.write(s)), stop: () => {} };
}

/** stderr is a terminal that can redraw, and no CI log is being written. */
export function isInteractive(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- isTTY is undefined, not false, when stderr is no terminal (its type says boolean)
  return process.stderr.isTTY === true && process.env.TERM !== 'dumb' && !process.env.CI;
}
