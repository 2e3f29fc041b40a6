// Small filesystems for tests of a full or read-only disk: a tmpfs mounted over a folder (CI runs
// as root). Where mounting is not permitted, `canMount` says so and the tests that need it are
// skipped off CI, and fail naming the reason on CI.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether this process may mount a tmpfs, and why not if it may not. */
export function canMount(): { ok: true } | { ok: false; why: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mlc-build-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return { ok: true };
  } catch (e) {
    const why = e instanceof Error && 'stderr' in e ? String(e.stderr).trim() || e.message : String(e);
    return { ok: false, why: `mount -t tmpfs is not permitted here (${why})` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A tmpfs of `bytes` over `dir` (made if missing); unmount it before its parent is removed. */
export class Tmpfs {
  private mounted = false;
  constructor(readonly dir: string) {}

  mount(bytes: number): this {
    mkdirSync(this.dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', this.dir], { stdio: 'pipe' });
    this.mounted = true;
    return this;
  }

  /** Grows (or shrinks) it, keeping its files. */
  resize(bytes: number): void {
    execFileSync('mount', ['-o', `remount,size=${bytes}`, this.dir], { stdio: 'pipe' });
  }

  readOnly(on: boolean): void {
    execFileSync('mount', ['-o', on ? 'remount,ro' : 'remount,rw', this.dir], { stdio: 'pipe' });
  }

  unmount(): void {
    if (!this.mounted) return;
    execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
    this.mounted = false;
  }
}
