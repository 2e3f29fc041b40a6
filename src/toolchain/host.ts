// What this machine has that steps need: GPUs by the kind mlc_llm probes, and CPUs. Read from
// device nodes, not by running vendor tools, so it costs a few stat calls.
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface HostGpus {
  /** NVIDIA GPUs (/dev/nvidiaN). */
  cuda: number;
  /** AMD GPUs with ROCm's kernel driver (/dev/kfd, one render node each). */
  rocm: number;
  /** GPUs with a DRM render node (Vulkan drivers use them), or an NVIDIA GPU. */
  vulkan: number;
  /** Every Mac mlc_llm supports has a Metal GPU. */
  metal: number;
}

export function detectGpus(platform: NodeJS.Platform = process.platform): HostGpus {
  const dev = (re: RegExp, dir = '/dev') => {
    try {
      return readdirSync(dir).filter((n) => re.test(n)).length;
    } catch {
      return 0;
    }
  };
  if (platform === 'darwin') return { cuda: 0, rocm: 0, vulkan: 0, metal: 1 };
  const cuda = dev(/^nvidia\d+$/);
  const render = dev(/^renderD\d+$/, '/dev/dri');
  return { cuda, rocm: existsSync('/dev/kfd') ? render : 0, vulkan: Math.max(render, cuda), metal: 0 };
}

/** GPUs convert_weight --device auto would use: the largest count of any kind. */
export function gpuCount(g: HostGpus): number {
  return Math.max(g.cuda, g.rocm, g.vulkan, g.metal);
}

export function cpuCount(): number {
  return availableParallelism();
}
