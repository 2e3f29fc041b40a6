// The lock's platform keys beyond installing on this host: `toolchain lock` pins a toolchain for
// other machines (resolved here with pip's --platform and --python-version, nothing installed) and
// keeps their wheels, fetched for that platform, in the store and the remote cache; `toolchain
// export` writes one key's pinned wheels and a hashed requirements file to a folder, for a machine
// with no route to any index.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ToolchainInstall } from '../../manifest/types.js';
import { readLock, updateToolchainLock, type ToolchainPin } from '../../lockfile/lock-file.js';
import { wheels } from '../../recipes/index.js';
import { err, ok, type Result } from '../../result.js';
import { basics, crossArgs, resolvePins, scratchFor, type CrossTarget, type EnsureOptions } from './environment.js';
import type { PythonInfo } from './python.js';
import { requestFor, type InstallRequest } from './request.js';
import { gatherWheels, requirementsText, type WheelSet } from './wheels.js';

/** A platform key of the lock, read: what pip needs to select its wheels, and its request. */
interface KeyTarget {
  key: string;
  /** Undefined for this host's own key. */
  cross?: CrossTarget;
  python: string;
  request: InstallRequest;
  /** This host's Python, whose pip fetches the wheels. */
  host: PythonInfo;
}

/** `linux_x86_64-cp311[-cu122]`: this host's key, or another machine's (its tags, Python and wheel variant). */
async function targetOf(
  install: ToolchainInstall,
  key: string | undefined,
  opts: Pick<EnsureOptions, 'projectRoot' | 'env'>,
): Promise<Result<KeyTarget, string>> {
  const host = await basics(install, opts);
  if (!host.ok) return host;
  if (key === undefined || key === host.value.platform)
    return ok({ key: host.value.platform, python: host.value.python.minor, request: host.value.request, host: host.value.python });
  const m = /^([a-z]+_[a-z0-9_]+?)-cp(\d)(\d+)(?:-([a-z0-9]+))?$/.exec(key);
  const tags = m?.[1] !== undefined ? wheels().platform_tags[m[1]] : undefined;
  if (!m || !Array.isArray(tags)) {
    const known = Object.keys(wheels().platform_tags).filter((k) => !k.startsWith('$'));
    return err(
      `--platform ${key}: expected <platform>-cp<XY>[-<variant>] with a platform of ${known.join(', ')}, e.g. darwin_arm64-cp311 or linux_x86_64-cp311-cu122`,
    );
  }
  const variant = m[4];
  if (variant !== undefined && !install.nightly) return err(`--platform ${key}: a wheel variant (-${variant}) applies to install: nightly only`);
  const request = await requestFor(install, opts.projectRoot, opts.env, undefined, install.nightly ? (variant ?? 'cpu') : undefined);
  if (!request.ok) return request;
  const python = `${m[2] ?? ''}.${m[3] ?? ''}`;
  return ok({ key, cross: { tags, python }, python, request: request.value, host: host.value.python });
}

/**
 * Pins for the keys (this host's when none is given) without installing, written to the lock,
 * their wheels kept in the store and the remote cache. A key already pinned for the same request
 * keeps its pins unless `update`. pip evaluates dependencies' environment markers for this
 * machine, not the other (the README says so).
 */
export async function lockPlatforms(
  install: ToolchainInstall,
  keys: readonly string[],
  opts: EnsureOptions,
): Promise<Result<{ key: string; pins: ToolchainPin[] }[], string>> {
  const done: { key: string; pins: ToolchainPin[] }[] = [];
  for (const asked of keys.length > 0 ? keys : [undefined]) {
    const target = await targetOf(install, asked, opts);
    if (!target.ok) return target;
    const { key, request, cross } = target.value;
    const pinned = (await readLock(opts.projectRoot)).toolchain?.[key];
    const scratch = await scratchFor(target.value.host, join(opts.storeRoot, 'toolchains', 'tmp', `lock-${process.pid}`), opts);
    try {
      let pins = !opts.update && pinned?.request === request.digest && pinned.python === target.value.python ? pinned.packages : undefined;
      if (!pins) {
        opts.say(`resolving ${request.packages.join(', ')} for ${key}`);
        const resolved = await resolvePins(request, scratch, opts, cross);
        if (!resolved.ok) return resolved;
        pins = resolved.value;
      }
      const gathered = await gather(target.value, pins, join(scratch.dir, 'wheels'), scratch.pip, scratch.dir, opts);
      if (!gathered.ok) return gathered;
      await updateToolchainLock(opts.projectRoot, key, { request: request.digest, python: target.value.python, packages: gathered.value });
      done.push({ key, pins: gathered.value });
    } finally {
      await scratch.dispose();
    }
  }
  return ok(done);
}

/**
 * `toolchain export DIR`: the pinned wheels of a key (this host's by default) and a
 * requirements.txt with their hashes, so `pip install --no-index --require-hashes -r
 * DIR/requirements.txt --find-links DIR` installs them with no index.
 */
export async function exportWheels(
  install: ToolchainInstall,
  key: string | undefined,
  dir: string,
  opts: EnsureOptions,
): Promise<Result<{ key: string; pins: ToolchainPin[] }, string>> {
  const target = await targetOf(install, key, opts);
  if (!target.ok) return target;
  const entry = (await readLock(opts.projectRoot)).toolchain?.[target.value.key];
  if (!entry) {
    const how = target.value.cross ? `mlc-build toolchain lock --platform ${target.value.key}` : 'mlc-build toolchain lock (or install)';
    return err(`mlc.build.lock pins no toolchain for ${target.value.key}: ${how} pins one`);
  }
  const scratch = await scratchFor(target.value.host, join(opts.storeRoot, 'toolchains', 'tmp', `export-${process.pid}`), opts);
  try {
    const gathered = await gather(target.value, entry.packages, dir, scratch.pip, scratch.dir, opts);
    if (!gathered.ok) return gathered;
    await writeFile(
      join(dir, 'requirements.txt'),
      `# The managed toolchain pinned in mlc.build.lock for ${target.value.key}; install offline with\n# pip install --no-index --require-hashes -r requirements.txt --find-links .\n${requirementsText(gathered.value)}`,
    );
    // The lock learns file names it did not have (nothing else changes: they re-key nothing).
    await updateToolchainLock(opts.projectRoot, target.value.key, { ...entry, packages: gathered.value });
    return ok({ key: target.value.key, pins: gathered.value });
  } finally {
    await scratch.dispose();
  }
}

async function gather(
  target: KeyTarget,
  pins: readonly ToolchainPin[],
  dir: string,
  venv: () => Promise<Result<string, string>>,
  work: string,
  opts: EnsureOptions,
): Promise<Result<ToolchainPin[], string>> {
  const set: WheelSet = { platform: target.key, python: target.python, pins };
  return gatherWheels(set, dir, {
    stash: await opts.wheels(),
    request: target.request,
    ...(target.cross ? { crossArgs: crossArgs(target.cross) } : {}),
    pipVenv: venv,
    env: opts.env,
    projectRoot: opts.projectRoot,
    log: join(work, 'pip.log'),
    work,
    say: opts.say,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
