// Keys of compiles for another machine (a Mac's metal library seen from a Linux release or plan
// job): the host that machine compiles for (the preset's ci_host) and its toolchain's fingerprint,
// which only a managed toolchain makes known here, from that platform's pins in mlc.build.lock.
import type { Target, ToolchainInstall } from '../../manifest/types.js';
import type { Lock } from '../../lockfile/lock-file.js';
import { wheels } from '../../recipes/index.js';
import { pinnedFingerprint } from './environment.js';

export type ForeignKey = { ok: true; host: string; toolchain: string } | { ok: false; reason: string };

/** Node's platform-arch → the lock's platform part (Python's platform.system()_machine()). */
const PLATFORMS: Record<string, string> = {
  'darwin-arm64': 'darwin_arm64',
  'darwin-x64': 'darwin_x86_64',
  'linux-x64': 'linux_x86_64',
  'linux-arm64': 'linux_aarch64',
  'win32-x64': 'windows_amd64',
};

export interface ForeignKeyContext {
  lock: Lock;
  /** The managed toolchain's install settings; undefined when the toolchain is not managed. */
  install: ToolchainInstall | undefined;
  /** This machine's platform-arch (e.g. linux-x64). */
  here: string;
}

export function foreignKey(target: Target, { lock, install, here }: ForeignKeyContext): ForeignKey {
  if (!target.ciHost) return { ok: false, reason: `its key needs the host target ${target.name} is built on, and its preset names none (ci_host)` };
  const platform = PLATFORMS[target.ciHost];
  const family = target.device.split(':')[0];
  const variant = family === 'cuda' ? /-cu\d+$/ : family === 'rocm' ? /-rocm\d+$/ : /-cp\d+$/;
  const entries = install
    ? Object.entries(lock.toolchain ?? {}).filter(([k]) => platform !== undefined && k.startsWith(`${platform}-`) && variant.test(k))
    : [];
  if (entries.length === 1) {
    const [key, entry] = entries[0] as [string, { python: string; packages: { name: string; version: string; sha256: string }[] }];
    return { ok: true, host: target.ciHost, toolchain: pinnedFingerprint(key, entry.python, entry.packages) };
  }
  if (entries.length > 1)
    return { ok: false, reason: `mlc.build.lock pins ${entries.length} toolchains for ${target.ciHost} (${entries.map(([k]) => k).join(', ')}); keep one` };
  const lockKey = suggestedLockKey(target, lock, install);
  const pin = lockKey === undefined ? 'mlc-build toolchain lock --platform KEY' : `mlc-build toolchain lock --platform ${lockKey}`;
  // Built on this very platform (a GPU target on a host without that GPU): no other machine's pins are needed to build it.
  if (target.ciHost === here) {
    const keyed = install ? ` (a release here finds that runner's library once mlc.build.lock pins its toolchain: ${pin})` : '';
    return { ok: false, reason: `it can be built here with --all-hosts, or on a runner with that GPU${keyed}` };
  }
  if (!install) {
    return {
      ok: false,
      reason: `its key needs the toolchain fingerprint of ${target.ciHost}, which only a managed toolchain pins: set toolchain.install, then ${pin}`,
    };
  }
  return { ok: false, reason: `mlc.build.lock pins no toolchain for ${target.ciHost} yet: ${pin} pins it from here (a build there also records it)` };
}

/** The lock key another machine's toolchain for this target has, e.g. darwin_arm64-cp311 or linux_x86_64-cp311-cu122. */
function suggestedLockKey(target: Target, lock: Lock, install: ToolchainInstall | undefined): string | undefined {
  const platform = target.ciHost === undefined ? undefined : PLATFORMS[target.ciHost];
  if (platform === undefined) return undefined;
  // The Python this project pins already (machines usually share one), else the one MLC recommends.
  const minor = Object.values(lock.toolchain ?? {})[0]?.python ?? wheels().python.recommended;
  const python = minor.replace('.', '');
  const family = target.device.split(':')[0] ?? '';
  // A wheel variant applies to nightly installs only; unmanaged, the newest of the family is the likely choice.
  const variants = Object.keys(wheels().variants).filter((v) => (family === 'cuda' && /^cu\d+$/.test(v)) || (family === 'rocm' && /^rocm\d+$/.test(v)));
  const suffix = variants.length > 0 && (install === undefined || install.nightly) ? `-${variants[variants.length - 1] ?? ''}` : '';
  return `${platform}-cp${python}${suffix}`;
}
