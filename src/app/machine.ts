// What build and watch set up alike: the machine's pools and -j.
import { poolSizes } from '../exec/resources.js';
import type { Machine } from '../exec/resources.js';
import type { Manifest } from '../manifest/types.js';
import { cpuCount, detectGpus, gpuCount } from '../toolchain/host.js';

export function thisMachine(): Machine {
  return { cpus: cpuCount(), gpus: gpuCount(detectGpus()) };
}

/** -j as given, else enough for every pool at once (without -j only the pools bound what runs). */
export function jobsFor(manifest: Manifest, machine: Machine, jobsFlag: number | undefined): number {
  return jobsFlag ?? Object.values(poolSizes(manifest, machine)).reduce((a, n) => a + Math.max(1, n), 0);
}
