// What build and watch set up alike: the machine's pools and -j, and the log a build reports to.
import { poolSizes } from '../exec/resources.js';
import type { Machine } from '../exec/resources.js';
import type { Emit } from '../exec/events.js';
import type { Manifest } from '../manifest/types.js';
import { jsonLogger, plainLogger } from '../report/build-log.js';
import { LiveView } from '../report/live-view.js';
import { cpuCount, detectGpus, gpuCount } from '../toolchain/host.js';

export function thisMachine(): Machine {
  return { cpus: cpuCount(), gpus: gpuCount(detectGpus()) };
}

/** -j as given, else enough for every pool at once (without -j only the pools bound what runs). */
export function jobsFor(manifest: Manifest, machine: Machine, jobsFlag: number | undefined): number {
  return jobsFlag ?? Object.values(poolSizes(manifest, machine)).reduce((a, n) => a + Math.max(1, n), 0);
}

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
  return process.stderr.isTTY === true && process.env.TERM !== 'dumb' && !process.env.CI;
}
