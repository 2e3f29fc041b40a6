// A managed toolchain: a venv per toolchain under the store (`toolchains/<digest>/`), named by the
// digest of what it holds (the pinned distributions, the Python version, the platform), filled by
// the store's kept pip (venv.ts) and pinned by wheel hash in mlc.build.lock. The first install
// resolves (pip's dry-run report gives every distribution with its sha256, dependencies included)
// and records the pins; every later install, on any machine of that platform, installs exactly
// those bytes with --require-hashes. The pinned wheels are gathered first (wheels.ts: the store,
// the remote cache, then the index) into one folder pip installs from with --no-index, so a
// toolchain installs after its index dropped the wheels. A venv cannot be moved once made, so it
// is made in place and counts only once its completion marker (written last) holds its digest;
// anything else there is removed and made again. Installs of one environment are serialised
// across processes by a lock.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson } from '../../canonical-json.js';
import type { ToolchainInstall } from '../../manifest/types.js';
import { byText } from '../../order.js';
import { err, ok, type Result } from '../../result.js';
import { readLock, updateToolchainLock, type ToolchainLock, type ToolchainPin } from '../../lockfile/lock-file.js';
import { sha256 } from '../../store/hash.js';
import { acquireProjectLock } from '../../store/project-lock.js';
import type { Fingerprint } from '../fingerprint.js';
import { envBinary, findPython, type PythonInfo } from './python.js';

export { envBinary };
import { pip, pipEnvironment, pipSourceArgs } from './pip.js';
import { pipAdvice, requestFor, type InstallRequest } from './request.js';
import { keptPip, makeVenv } from './venv.js';
import { corePins, gatherWheels, requirementsText, wheelFileName, type WheelStash } from './wheels.js';

export const MARKER = '.mlc-build-complete';

export interface ManagedToolchain {
  /** The environment's folder (it may not exist yet when only looked at). */
  dir: string;
  installed: boolean;
  python: PythonInfo;
  /** The lock's key: the platform, plus the wheel variant for `install: nightly` off the CPU variant. */
  platform: string;
  request: InstallRequest;
  pins: ToolchainPin[];
  /** The toolchain's fingerprint, from the pins: exact before anything is installed. */
  fingerprint: Fingerprint;
}

export interface EnsureOptions {
  storeRoot: string;
  projectRoot: string;
  env: NodeJS.ProcessEnv;
  /** Resolve again instead of using the lock's pins (`build --update`). */
  update?: boolean;
  signal?: AbortSignal;
  /** Phases and pip's progress, one line each. */
  say: (line: string) => void;
  /** Where pinned wheels are kept (the store, the remote cache), looked in before the index: opened when first needed. */
  wheels: () => Promise<WheelStash>;
}

/** What the lock pins for this host, without installing anything (plan, status, doctor). */
export async function lookManaged(
  install: ToolchainInstall,
  opts: Omit<EnsureOptions, 'say' | 'signal' | 'wheels'>,
): Promise<Result<ManagedToolchain, string>> {
  const base = await basics(install, opts);
  if (!base.ok) return base;
  const { python, request, platform } = base.value;
  const pinned = (await readLock(opts.projectRoot)).toolchain?.[platform];
  if (!pinned || pinned.request !== request.digest || pinned.python !== python.minor) {
    return err(`the managed toolchain for ${platform} is not resolved yet: run mlc-build toolchain install (or build)`);
  }
  return ok(describe(opts.storeRoot, python, platform, request, pinned.packages));
}

/** The environment, installed if it is not yet. */
export async function ensureManaged(install: ToolchainInstall, opts: EnsureOptions): Promise<Result<ManagedToolchain, string>> {
  const base = await basics(install, opts);
  if (!base.ok) return base;
  const { python, request, platform } = base.value;
  const lock = await readLock(opts.projectRoot);
  const pinned = lock.toolchain?.[platform];
  const current = !opts.update && pinned && pinned.request === request.digest && pinned.python === python.minor ? pinned.packages : undefined;
  const tmp = join(opts.storeRoot, 'toolchains', 'tmp');
  let pins = current;
  if (!pins) {
    opts.say(`resolving ${request.packages.join(', ')} for ${platform} (Python ${python.version})`);
    const scratch = await scratchFor(python, join(tmp, `resolve-${process.pid}`), opts);
    const resolved = await resolvePins(request, scratch, opts).finally(() => scratch.dispose());
    if (!resolved.ok) return resolved;
    pins = resolved.value;
  }
  const managed = describe(opts.storeRoot, python, platform, request, pins);
  if (!managed.installed) {
    const made = await installEnvironment(managed, opts);
    if (!made.ok) return made;
    managed.installed = true;
    // The wheels' file names, learned while gathering them: a lock written before they were kept names none.
    managed.pins = made.value;
  }
  const named = managed.pins.some((p, i) => p.file !== current?.[i]?.file);
  if (!current || named) {
    const entry: ToolchainLock = { request: request.digest, python: python.minor, packages: managed.pins };
    await updateToolchainLock(opts.projectRoot, platform, entry);
  }
  return ok(managed);
}

export async function basics(
  install: ToolchainInstall,
  opts: Pick<EnsureOptions, 'projectRoot' | 'env'>,
): Promise<Result<{ python: PythonInfo; request: InstallRequest; platform: string }, string>> {
  const python = await findPython(install.python, opts.projectRoot, opts.env);
  if (!python.ok) return python;
  const request = await requestFor(install, opts.projectRoot, opts.env);
  if (!request.ok) return request;
  const platform = request.value.variant && request.value.variant !== 'cpu' ? `${python.value.platform}-${request.value.variant}` : python.value.platform;
  return ok({ python: python.value, request: request.value, platform });
}

/** The fingerprint of a managed toolchain, from its pins alone: what another machine computes for it. */
export function pinnedFingerprint(platform: string, python: string, pins: readonly ToolchainPin[]): string {
  return sha256(canonicalJson({ managed: 1, platform, python, packages: corePins(pins) }));
}

function describe(storeRoot: string, python: PythonInfo, platform: string, request: InstallRequest, pins: ToolchainPin[]): ManagedToolchain {
  const digest = pinnedFingerprint(platform, python.minor, pins);
  const dir = join(storeRoot, 'toolchains', digest.slice(0, 20));
  return {
    dir,
    installed: markerHolds(dir, digest),
    python,
    platform,
    request,
    pins,
    fingerprint: {
      digest,
      facts: { managed: true, platform, python: python.minor, packages: Object.fromEntries(pins.map((p) => [p.name, p.version])) },
      folders: [],
    },
  };
}

/** Whether the environment is complete: its marker, written last, holds its digest. Synchronous on purpose: one small read. */
export function markerHolds(dir: string, digest: string): boolean {
  try {
    return readFileSync(join(dir, MARKER), 'utf8').trim() === digest;
  } catch {
    return false;
  }
}

/** pip's options for another machine: its platform tags and Python, wheels only. */
export interface CrossTarget {
  tags: string[];
  /** "3.11" */
  python: string;
}

/** pip's arguments that select wheels for another machine. */
export function crossArgs(cross: CrossTarget): string[] {
  return [
    '--only-binary=:all:',
    '--python-version',
    cross.python,
    '--implementation',
    'cp',
    '--abi',
    `cp${cross.python.replace('.', '')}`,
    ...cross.tags.flatMap((t) => ['--platform', t]),
  ];
}

/** A scratch folder for pip's report and log, and the store's pip, looked up when first needed; the folder is removed by `dispose`. */
export interface Scratch {
  dir: string;
  /** The venv whose pip resolves and downloads (venv.ts). */
  pip: () => Promise<Result<string, string>>;
  dispose: () => Promise<void>;
}

export async function scratchFor(
  python: PythonInfo,
  dir: string,
  opts: Pick<EnsureOptions, 'env' | 'signal' | 'projectRoot' | 'storeRoot' | 'say'>,
): Promise<Scratch> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let found: Promise<Result<string, string>> | undefined;
  return {
    dir,
    pip: () => (found ??= keptPip(python, opts)),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** pip's resolution of the request, with every distribution's sha256 and file name (--ignore-installed: what pip's own venv holds does not count). */
export async function resolvePins(
  request: InstallRequest,
  scratch: Scratch,
  opts: EnsureOptions,
  cross?: CrossTarget,
): Promise<Result<ToolchainPin[], string>> {
  const venv = await scratch.pip();
  if (!venv.ok) return venv;
  const report = join(scratch.dir, 'report.json');
  const log = join(scratch.dir, 'pip.log');
  const r = await pip(
    venv.value,
    [
      'install',
      '--dry-run',
      '--ignore-installed',
      '--report',
      report,
      ...(cross ? ['--target', join(scratch.dir, 'target'), ...crossArgs(cross)] : []),
      ...pipSourceArgs(request),
      ...request.packages,
    ],
    { ...opts, log },
  );
  if (!r.ok) {
    const advice = pipAdvice(await readFile(log, 'utf8').catch(() => ''), request);
    return err(advice ? `${r.error}\n  ${advice}` : r.error);
  }
  const parsed = JSON.parse(await readFile(report, 'utf8')) as {
    install?: { metadata?: { name?: string; version?: string }; download_info?: { url?: string; archive_info?: { hashes?: { sha256?: string } } } }[];
  };
  const pins: ToolchainPin[] = [];
  for (const item of parsed.install ?? []) {
    const name = item.metadata?.name;
    const version = item.metadata?.version;
    const hash = item.download_info?.archive_info?.hashes?.sha256;
    if (!name || !version) return err(`pip's report lists a distribution without a name or version`);
    if (!hash)
      return err(
        `pip found no sha256 for ${name} ${version} (${item.download_info?.url ?? 'no URL'}): it must come as a wheel or sdist file, not a folder or VCS checkout`,
      );
    const file = wheelFileName(item.download_info?.url);
    pins.push({ name, version, sha256: hash, ...(file !== undefined ? { file } : {}) });
  }
  if (pins.length === 0) return err(`pip resolved ${request.packages.join(', ')} to nothing`);
  return ok(pins.sort((a, b) => byText(a.name, b.name)));
}

/**
 * Makes the environment in place: a venv without pip, the pinned wheels gathered into a folder
 * (store, remote, index) and installed from it alone by hash with the store's pip, a check of
 * what got installed, the marker last.
 * The pins, with their wheels' file names.
 */
async function installEnvironment(m: ManagedToolchain, opts: EnsureOptions): Promise<Result<ToolchainPin[], string>> {
  await mkdir(join(opts.storeRoot, 'toolchains'), { recursive: true });
  const held = await acquireProjectLock(opts.storeRoot, `toolchain ${m.fingerprint.digest}`, {
    wait: true,
    onWait: (o) => opts.say(`waiting for process ${o.pid}, which is installing this toolchain`),
  });
  if (!held.ok) return err('the toolchain is being installed by another process');
  const wheelsDir = join(opts.storeRoot, 'toolchains', 'tmp', `wheels-${m.fingerprint.digest.slice(0, 20)}-${process.pid}`);
  try {
    if (markerHolds(m.dir, m.fingerprint.digest)) return ok(m.pins); // another process made it meanwhile
    const started = Date.now();
    // Before anything of the environment is made: it is filled by this pip.
    const pipVenv = await keptPip(m.python, opts);
    if (!pipVenv.ok) return pipVenv;
    // Whatever is here lacks its marker: a killed or failed install. Never trusted, made anew; a
    // killed install's venv or pip may still run in its process group: stopped first.
    const pidFile = `${m.dir}.pid`;
    const leftover = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    if (Number.isInteger(leftover) && leftover > 0) killGroup(leftover, m.dir);
    await rm(m.dir, { recursive: true, force: true });
    const onSpawn = (pid: number) => void writeFile(pidFile, String(pid)).catch(() => undefined);
    opts.say(`installing ${m.pins.map((p) => `${p.name} ${p.version}`).join(', ')} into ${m.dir}`);
    const log = `${m.dir}.log`;
    const venv = await makeVenv(m.python, m.dir, { ...opts, log, onSpawn, withPip: false });
    if (!venv.ok) return venv;
    const requirements = join(m.dir, 'mlc-build-requirements.txt');
    await writeFile(requirements, requirementsText(m.pins));
    await rm(wheelsDir, { recursive: true, force: true });
    const gathered = await gatherWheels({ platform: m.platform, python: m.python.minor, pins: m.pins }, wheelsDir, {
      stash: await opts.wheels(),
      request: m.request,
      pipVenv: () => Promise.resolve(pipVenv),
      env: opts.env,
      projectRoot: opts.projectRoot,
      log,
      work: join(wheelsDir, '..'),
      say: opts.say,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (!gathered.ok) {
      await rm(m.dir, { recursive: true, force: true }); // nothing installed
      return err(`${gathered.error}\n  Nothing was installed.`);
    }
    // From the gathered folder alone: no index is asked, and every file is checked by its hash.
    const installed = await pip(
      pipVenv.value,
      ['install', '--require-hashes', '--no-deps', '--pre', '--no-index', '--find-links', wheelsDir, '-r', requirements],
      { ...opts, log, onSpawn, into: m.dir },
    );
    if (!installed.ok) return installed;
    const wrong = await differingPins(m.dir, m.pins, opts.env);
    if (wrong.length > 0)
      return err(`after installing, ${wrong.map((p) => `${p.name} ${p.version}`).join(', ')} ${wrong.length === 1 ? 'is' : 'are'} not in ${m.dir}`);
    await writeFile(join(m.dir, MARKER), `${m.fingerprint.digest}\n`);
    await rm(pidFile, { force: true });
    opts.say(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return gathered;
  } finally {
    await rm(wheelsDir, { recursive: true, force: true });
    await held.lock.release();
  }
}

/** Kills a killed install's leftover process group, unless its pid now belongs to something else. */
function killGroup(pid: number, dir: string): void {
  try {
    // On Linux, check that the process still works on this environment (pids are reused).
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(dir)) return;
  } catch {
    if (process.platform === 'linux') return; // no such process
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

const normalise = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

/** The pins the environment does not hold at their version (all of them if it cannot be asked). */
export async function differingPins(
  dir: string,
  pins: readonly { name: string; version: string }[],
  env: NodeJS.ProcessEnv,
): Promise<{ name: string; version: string }[]> {
  const dists = await installedDistributions(dir, env);
  return dists.ok ? pins.filter((p) => dists.value.get(normalise(p.name)) !== p.version) : [...pins];
}

/** Name (normalised) → version of every distribution in the environment, as its Python sees them. */
export async function installedDistributions(dir: string, env: NodeJS.ProcessEnv): Promise<Result<Map<string, string>, string>> {
  const py = envBinary(dir, 'python');
  try {
    const { stdout } = await promisify(execFile)(
      py,
      ['-c', 'import json, importlib.metadata as m; print(json.dumps({d.metadata["Name"]: d.version for d in m.distributions()}))'],
      { env: pipEnvironment(env) },
    );
    const map = new Map<string, string>();
    for (const [n, v] of Object.entries(JSON.parse(stdout) as Record<string, string>)) map.set(normalise(n), v);
    return ok(map);
  } catch (e) {
    return err(`cannot ask ${py} what is installed: ${(e as Error).message.split('\n')[0]}`);
  }
}
