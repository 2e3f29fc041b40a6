// Keys of compiles for another machine (a Mac's metal library seen from a Linux release or plan
// job): the host that machine compiles for (the preset's ci_host) and its toolchain's fingerprint,
// which only a managed toolchain makes known here, from that platform's pins in mlc.build.lock.
import type { Target } from '../../manifest/types.js';
import type { Lock } from '../../lockfile/lock-file.js';
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

export function foreignKey(target: Target, lock: Lock, managed: boolean): ForeignKey {
  if (!target.ciHost) return { ok: false, reason: `its key needs the host target ${target.name} is built on, and its preset names none (ci_host)` };
  if (!managed) {
    return {
      ok: false,
      reason: `its key needs the toolchain fingerprint of ${target.ciHost}: only a managed toolchain (toolchain.install) pins that in mlc.build.lock`,
    };
  }
  const platform = PLATFORMS[target.ciHost];
  const family = target.device.split(':')[0];
  const variant = family === 'cuda' ? /-cu\d+$/ : family === 'rocm' ? /-rocm\d+$/ : /-cp\d+$/;
  const entries = Object.entries(lock.toolchain ?? {}).filter(([k]) => platform !== undefined && k.startsWith(`${platform}-`) && variant.test(k));
  if (entries.length !== 1) {
    return {
      ok: false,
      reason:
        entries.length === 0
          ? `mlc.build.lock pins no toolchain for ${target.ciHost} yet: a build there (mlc-build toolchain install) records it`
          : `mlc.build.lock pins ${entries.length} toolchains for ${target.ciHost} (${entries.map(([k]) => k).join(', ')}); keep one`,
    };
  }
  const [key, entry] = entries[0] as [string, { python: string; packages: { name: string; version: string; sha256: string }[] }];
  return { ok: true, host: target.ciHost, toolchain: pinnedFingerprint(key, entry.python, entry.packages) };
}
