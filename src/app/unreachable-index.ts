// A managed toolchain whose wheel index could not be reached is not tried again by every build
// for a while (pip's attempt takes about 30 s offline): the failure is kept in the store with its
// reason and time, shown instead, and forgotten after RETRY_AFTER_MS, after a successful install,
// or when `mlc-build toolchain install` asks again at once.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { sha256 } from '../store/hash.js';
import type { ToolchainInstall } from '../manifest/types.js';
import { writeFileAtomic } from '../store/atomic.js';

export const RETRY_AFTER_MS = 10 * 60 * 1000;

interface Remembered {
  request: string;
  reason: string;
  at: number;
}

const fileOf = (storeRoot: string) => join(storeRoot, 'toolchains', 'unreachable.json');
const requestDigest = (install: ToolchainInstall) => sha256(canonicalJson(install));

/** Why the last install of this request failed for want of network, if it did within RETRY_AFTER_MS. */
export function rememberedUnreachable(storeRoot: string, install: ToolchainInstall, now = Date.now()): string | undefined {
  let kept: Partial<Remembered> | null;
  try {
    kept = JSON.parse(readFileSync(fileOf(storeRoot), 'utf8')) as Partial<Remembered> | null;
  } catch {
    return undefined;
  }
  if (kept?.request !== requestDigest(install) || typeof kept.at !== 'number' || typeof kept.reason !== 'string') return undefined;
  if (now - kept.at >= RETRY_AFTER_MS || now < kept.at) return undefined;
  const when = new Date(kept.at).toTimeString().slice(0, 8);
  const minutes = Math.ceil((kept.at + RETRY_AFTER_MS - now) / 60_000);
  return `${kept.reason} (at ${when}; not tried again for ${minutes} min — mlc-build toolchain install tries now)`;
}

/** Keeps an install failure that says the index was unreachable; forgets it after a success. */
export async function noteInstall(storeRoot: string, install: ToolchainInstall, failure: string | undefined): Promise<void> {
  if (failure === undefined) {
    rmSync(fileOf(storeRoot), { force: true });
    return;
  }
  if (!isUnreachable(failure)) return;
  const kept: Remembered = { request: requestDigest(install), reason: failure, at: Date.now() };
  await writeFileAtomic(fileOf(storeRoot), JSON.stringify(kept)).catch(() => undefined); // a store that cannot keep it only costs a retry
}

function isUnreachable(failure: string): boolean {
  return failure.includes('pip cannot reach ');
}
