// The build context a command or a watch rebuild works in: the managed toolchain set up, the store,
// the project state, the lock's pins and the caches (local, then remote).
import { BuildContext } from '../exec/context.js';
import { makePlan, type Plan } from '../exec/plan.js';
import { poolSizes } from '../exec/resources.js';
import { readLock } from '../lockfile/lock-file.js';
import { LayeredCache } from '../store/cache.js';
import { loadProjectState, type ProjectState } from '../store/project-state.js';
import { RemoteCache } from '../store/remote/remote-cache.js';
import { Store } from '../store/store.js';
import type { Project } from './project.js';
import { setUpToolchain } from './toolchain-setup.js';

/** The plan of the selected nodes, read-only (plan and status write nothing but the stat cache). */
export async function readOnlyPlan(project: Project, selected: ReadonlySet<string>, unavailable: ReadonlyMap<string, string> = new Map()): Promise<Plan> {
  const ctx = await openContext(project, { readOnly: true });
  const plan = await makePlan(ctx, selected, unavailable);
  await ctx.cache.flush();
  await ctx.store.close();
  return plan;
}

export async function openContext(
  project: Project,
  opts: { readOnly: boolean; verify?: boolean; update?: boolean; tokenFile?: string; signal?: AbortSignal },
  /** Watch mode: the store and project state its rebuilds share. */
  shared?: { store: Store; state: ProjectState },
): Promise<BuildContext> {
  const { manifest } = project;
  // A managed toolchain: a build installs it (once per machine); a look uses the lock's pins.
  await setUpToolchain(project, { install: !opts.readOnly, update: opts.update, signal: opts.signal });
  const store = shared?.store ?? (await Store.open(manifest.cache, { readOnly: opts.readOnly }));
  const state = shared?.state ?? (await loadProjectState(manifest.cache, manifest.root));
  const lock = await readLock(manifest.root);
  // Results are looked up in the local store, then the remote cache; a look (plan, status) uploads
  // nothing; --verify trusts no memory of what the remote holds and asks it about every result.
  const settings = project.remote && {
    ...project.remote,
    ...(opts.readOnly ? { readOnly: true } : {}),
    ...(opts.verify ? { recheckAfterMs: 0 } : {}),
  };
  const remote = settings
    ? new RemoteCache(settings, {
        concurrency: poolSizes(manifest, { cpus: 1, gpus: 0 }).net,
        storeRoot: manifest.cache,
      })
    : undefined;
  return new BuildContext(
    manifest,
    project.graph,
    store,
    project.toolchain,
    process.env,
    state,
    { verify: opts.verify ?? false, update: opts.update, tokenFile: opts.tokenFile },
    lock,
    new LayeredCache(store, remote ? [remote] : []),
  );
}
