// What each target needs of the machine that compiles it (mlc_llm facts §1.3), checked against
// facts about this host. Pure: the host is passed in, so every platform's rules are testable here.
import type { Target } from '../manifest/types.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { which } from './fingerprint.js';
import { detectGpus, type HostGpus } from './host.js';

/** The commands the checks look for on PATH. */
export const HOST_COMMANDS = ['xcrun', 'emcc'] as const;

export interface HostFacts {
  platform: NodeJS.Platform;
  gpus: HostGpus;
  env: NodeJS.ProcessEnv;
  /** True if the command is on PATH. */
  onPath(cmd: (typeof HOST_COMMANDS)[number]): boolean;
  exists(path: string): boolean;
}

export interface Check {
  /** What is checked, e.g. "cuda: a local NVIDIA GPU". */
  what: string;
  ok: boolean;
  /** Found or missing, and what to do about it. */
  detail: string;
  /** Advice is printed but does not fail the doctor. */
  advice?: boolean;
}

const OS_NAME: Partial<Record<NodeJS.Platform, string>> = { darwin: 'macOS', linux: 'Linux', win32: 'Windows' };
const GPU_NAME: Record<string, string> = { cuda: 'NVIDIA (CUDA)', rocm: 'AMD (ROCm)', vulkan: 'Vulkan', metal: 'Metal' };
const CROSS_PRESET: Record<string, string> = { vulkan: 'vulkan-generic', metal: 'metal-generic' };
/** Devices whose compile probes the local GPU 0 (the rest are cross-compiling presets). */
const PROBED_DEVICES = ['cuda', 'rocm', 'vulkan', 'metal'];

export function targetChecks(t: Target, host: HostFacts): Check[] {
  const checks: Check[] = [];
  const env = (name: string): string | undefined => t.env[name] ?? host.env[name];
  const os = t.buildsOn.os;
  if (os && os !== host.platform) {
    checks.push({
      what: `${t.name}: ${OS_NAME[os] ?? os}`,
      ok: false,
      detail: `builds only on ${OS_NAME[os] ?? os}; this machine runs ${OS_NAME[host.platform] ?? host.platform} (build it on a ${OS_NAME[os] ?? os} runner)`,
    });
  }
  const gpu = t.buildsOn.gpu ?? (PROBED_DEVICES.includes(t.device) ? t.device : undefined);
  if (gpu && (!os || os === host.platform)) {
    const counts: Readonly<Record<string, number>> = { ...host.gpus };
    const n = counts[gpu] ?? 0;
    const cross = CROSS_PRESET[gpu] ? `, or use the preset ${CROSS_PRESET[gpu]}, which needs no GPU` : '';
    checks.push({
      what: `${t.name}: a local ${GPU_NAME[gpu] ?? gpu} GPU`,
      ok: n > 0,
      detail: n > 0 ? `${n} found` : `none found: compile --device ${t.device} probes GPU 0 and fails without one (build on a machine with one${cross})`,
    });
  }
  if (os === 'darwin' && host.platform === 'darwin') {
    const xcode = host.onPath('xcrun');
    checks.push({ what: `${t.name}: Xcode command line tools`, ok: xcode, detail: xcode ? 'xcrun found' : 'xcrun not found: run xcode-select --install' });
  }
  if (t.device.startsWith('cuda')) {
    const arch = env('MLC_MULTI_ARCH');
    checks.push({
      what: `${t.name}: MLC_MULTI_ARCH`,
      ok: arch !== undefined,
      advice: true,
      detail:
        arch !== undefined
          ? `set (${arch}): a fat binary for those architectures`
          : "unset: the library targets GPU 0's architecture only; set it (e.g. 80,86,89,90) to ship one for several",
    });
  }
  if (t.device.startsWith('webgpu')) {
    const emcc = host.onPath('emcc');
    checks.push({ what: `${t.name}: emscripten`, ok: emcc, detail: emcc ? 'emcc found' : 'emcc not on PATH: install and activate the emsdk' });
    const src = env('MLC_LLM_SOURCE_DIR');
    const bc = src ? `${src.replace(/\/$/, '')}/web/dist/wasm/mlc_wasm_runtime.bc` : undefined;
    const found = bc !== undefined && host.exists(bc);
    checks.push({
      what: `${t.name}: the web runtime mlc_wasm_runtime.bc`,
      ok: found,
      detail: found
        ? bc
        : bc
          ? `${bc} is missing: build mlc_llm's web runtime (web/Makefile) in that checkout`
          : 'MLC_LLM_SOURCE_DIR is unset: point it at an mlc_llm source checkout with the web runtime built',
    });
  }
  if (t.envReads.includes('TVM_NDK_CC')) {
    const cc = env('TVM_NDK_CC');
    const found = cc !== undefined && host.exists(cc);
    checks.push({
      what: `${t.name}: TVM_NDK_CC (the Android NDK's clang)`,
      ok: found,
      detail: found ? cc : cc ? `${cc} does not exist` : 'unset: point it at the NDK clang for aarch64',
    });
  }
  if (t.device === 'macabi' || t.device.startsWith('macabi:')) {
    const arch = env('MLC_MACABI_ARCH');
    checks.push({
      what: `${t.name}: MLC_MACABI_ARCH`,
      ok: arch !== undefined,
      advice: true,
      detail: arch ? `set (${arch})` : 'unset: mlc_llm builds for the default Mac Catalyst architecture',
    });
  }
  if (checks.every((c) => c.advice)) {
    checks.unshift({ what: `${t.name}: host`, ok: true, detail: t.buildsOn.needs.join('; ') || 'nothing beyond mlc_llm' });
  }
  return checks;
}

/** git and git-lfs, when a model comes from a git source. */
export function gitChecks(versions: { git?: string; lfs?: string }): Check[] {
  return [
    { what: 'git', ok: versions.git !== undefined, detail: versions.git ?? 'not found: install git' },
    { what: 'git-lfs', ok: versions.lfs !== undefined, detail: versions.lfs ?? 'not found: install git-lfs (apt-get install git-lfs, brew install git-lfs)' },
  ];
}

/**
 * Bytes of converted weights: the source's parameter count (its weight bytes over the bytes per
 * parameter of its dtype) times the quantization's bits per weight on disk.
 */
export function convertedBytes(sourceWeightBytes: number, sourceDtype: string | undefined, bitsPerWeight: number): number {
  const bytesPerParam = sourceDtype === 'float32' ? 4 : 2; // bf16/fp16 checkpoints are the rule
  return Math.round((sourceWeightBytes / bytesPerParam) * (bitsPerWeight / 8));
}

/**
 * Facts about this machine; the commands the checks ask about are looked up on PATH first.
 * `looked` collects every path the facts and the checks look at (each PATH candidate, the files
 * `exists` is asked about), so a no-op stamp can tell when an answer may have changed.
 */
export async function hostFacts(cwd: string, env: NodeJS.ProcessEnv, looked: string[] = []): Promise<HostFacts> {
  const found = new Set<string>();
  const tried: string[] = [];
  for (const cmd of HOST_COMMANDS) if (await which(cmd, cwd, env, [], tried)) found.add(cmd);
  // Absolute: a relative PATH entry or variable means this folder, not the one a later check runs in.
  looked.push(...tried.map((p) => resolve(p)));
  const exists = (path: string) => {
    looked.push(resolve(path));
    return existsSync(path);
  };
  return { platform: process.platform, gpus: detectGpus(), env, onPath: (cmd) => found.has(cmd), exists };
}

/** What this host lacks to build the target's libraries ("macOS", "emscripten + …"), or undefined if nothing. */
export function missingFor(t: Target, host: HostFacts): string | undefined {
  const missing = targetChecks(t, host).filter((c) => !c.ok && !c.advice);
  if (missing.length === 0) return undefined;
  return missing.map((c) => c.what.slice(`${t.name}: `.length)).join(' + ');
}
