// Before a command uses a managed toolchain (toolchain.install): a build sets it up (installs it
// the first time on a machine), a look (plan, status, doctor) takes the lock's pins as they are.
// Either way the project's toolchain command then names the environment's mlc_llm and carries
// the pinned fingerprint; if it cannot be set up, it carries why, and steps that need it are
// blocked with that reason. The pinned wheels are looked for in the store, then the remote cache
// (wheelStash), before the index.
import { dirname } from 'node:path';
import { err, type Result } from '../result.js';
import type { ToolchainInstall } from '../manifest/types.js';
import { FileSets } from '../store/file-sets.js';
import { RemoteCache } from '../store/remote/remote-cache.js';
import { Store } from '../store/store.js';
import { ensureManaged, lookManaged, markerHolds, type EnsureOptions, type ManagedToolchain } from '../toolchain/managed/environment.js';
import { noteInstall, rememberedUnreachable } from './unreachable-index.js';
import { envBinary } from '../toolchain/managed/python.js';
import type { Project } from './project.js';

/**
 * Where the project's pinned wheels are kept: its store and its remote cache. Opened to write
 * (wheels fetched from the index are kept) unless `readOnly`; closed by the caller.
 */
export async function wheelStash(project: Project, say: (line: string) => void, opts: { readOnly?: boolean } = {}): Promise<FileSets> {
  const store = await Store.open(project.manifest.cache, { readOnly: opts.readOnly ?? false });
  const settings = project.remote && opts.readOnly ? { ...project.remote, readOnly: true } : project.remote;
  const remote = settings ? new RemoteCache(settings, { concurrency: 4, storeRoot: project.manifest.cache }) : undefined;
  if (remote) remote.warn = (m) => say(`warning: ${m}`);
  return new FileSets(store, remote);
}

export async function setUpToolchain(
  project: Project,
  opts: { install: boolean; update?: boolean; signal?: AbortSignal; say?: (line: string) => void; retryNow?: boolean },
): Promise<Result<ManagedToolchain, string> | undefined> {
  const install = project.manifest.toolchain.install;
  if (project.toolchain.from !== 'managed' || install === undefined) return undefined;
  // Set up already in this command (a release's build, then its look at the results): nothing to ask again.
  const { pinned, problem, argv } = project.toolchain;
  const ready = pinned && !problem && (!opts.install || markerHolds(dirname(dirname(argv[0] as string)), pinned.digest));
  if (ready && !opts.update) return undefined;
  const base = { storeRoot: project.manifest.cache, projectRoot: project.manifest.root, env: process.env, update: opts.update };
  const say = opts.say ?? ((line: string) => process.stderr.write(`mlc-build: toolchain: ${line}\n`));
  let r: Result<ManagedToolchain, string>;
  if (opts.install) {
    // Opened only if an install needs wheels: a build whose toolchain is installed reads no more of the store.
    let opened: FileSets | undefined;
    const wheels = async () => (opened ??= await wheelStash(project, say));
    r = await installOrRemembered(install, { ...base, signal: opts.signal, say, wheels }, opts.retryNow === true).finally(() => opened?.close());
  } else {
    r = await lookManaged(install, base);
  }
  if (r.ok) {
    const usable = r.value.installed || !opts.install;
    project.toolchain = {
      argv: [envBinary(r.value.dir, 'mlc_llm')],
      from: 'managed',
      pinned: r.value.fingerprint,
      ...(usable ? {} : { problem: 'the managed toolchain is not installed' }),
    };
  } else {
    project.toolchain = { argv: ['mlc_llm'], from: 'managed', problem: r.error };
  }
  return r;
}

/** Installs, unless the index was unreachable a few minutes ago (then says so at once, without a 30 s attempt). */
async function installOrRemembered(install: ToolchainInstall, opts: EnsureOptions, retryNow: boolean): Promise<Result<ManagedToolchain, string>> {
  const remembered = retryNow ? undefined : rememberedUnreachable(opts.storeRoot, install);
  if (remembered !== undefined) return err(remembered);
  const r = await ensureManaged(install, opts);
  await noteInstall(opts.storeRoot, install, r.ok ? undefined : r.error);
  return r;
}
