import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT, lockProject, type GlobalOptions, type Project } from '../../app/index.js';
import { formatBytes, parseAge, parseSize } from '../../manifest/units.js';
import { applyGc, inventory, planGc, type GcPlan } from '../../store/gc.js';
import { readLock } from '../../lockfile/lock-file.js';
import { loadProjectState } from '../../store/project-state.js';
import { StatCache } from '../../store/stat-cache.js';
import { STAT_CACHE_FILE } from '../../store/store.js';
import { load } from '../context.js';

interface GcFlags {
  maxSize?: string;
  olderThan?: string;
  all?: boolean;
  dryRun?: boolean;
}

export function registerGc(program: Command, setExit: (code: number) => void): void {
  program
    .command('gc')
    .description('shrink the store: least recently used results first, keeping what the current manifest uses')
    .option('--max-size <size>', 'remove results until the store is at most this big, e.g. 50GB (default: cache.max_size)')
    .option('--older-than <age>', 'remove results unused for longer, e.g. 30d, 12h (default: cache.max_age)')
    .option('--all', 'remove everything the current manifest does not need; with --max-size or --older-than, those limits may remove what it uses too')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .action(async (flags: GcFlags) => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      const maxSize = flags.maxSize === undefined ? project.manifest.cacheLimits.maxSize : parseSize(flags.maxSize);
      const maxAge = flags.olderThan === undefined ? project.manifest.cacheLimits.maxAge : parseAge(flags.olderThan);
      if (flags.maxSize !== undefined && maxSize === undefined) {
        process.stderr.write(`mlc-build: --max-size ${flags.maxSize} is not a size (write it like 50GB, 200GiB or a number of bytes)\n`);
        setExit(EXIT.usage);
        return;
      }
      if (flags.olderThan !== undefined && maxAge === undefined) {
        process.stderr.write(`mlc-build: --older-than ${flags.olderThan} is not an age (write it like 30d, 12h, 2w)\n`);
        setExit(EXIT.usage);
        return;
      }
      // This project's builds must not restore from a record while it goes.
      const locked = await lockProject(project.manifest, true);
      if (!locked.ok) {
        setExit(locked.error);
        return;
      }
      try {
        // `--all` alone: everything the current manifest does not need (what "all" reads as); with a
        // limit given, the limit applies to everything, what the manifest uses included.
        const unneeded = flags.all === true && flags.maxSize === undefined && flags.olderThan === undefined;
        const limits = unneeded ? { maxAge: -1, all: false } : { maxSize, maxAge, all: flags.all ?? false };
        await gc(project, { ...limits, dryRun: flags.dryRun ?? false });
      } finally {
        await locked.value.release();
      }
    });
}

async function gc(project: Project, opts: { maxSize?: number; maxAge?: number; all: boolean; dryRun: boolean }): Promise<void> {
  const { manifest, graph } = project;
  const state = await loadProjectState(manifest.cache, manifest.root);
  // What the last build of this manifest used: the keys of the nodes still in its graph.
  const keep = new Set(Object.entries(state.nodes).flatMap(([id, n]) => (graph.nodes.has(id) ? [n.key] : [])));
  // The toolchain's wheels pinned by the current lock, for every platform: roots (an index may no
  // longer serve them). The records of wheel sets go by the usual rule, as results do.
  const toolchains = Object.values((await readLock(manifest.root)).toolchain ?? {});
  const roots = new Set(toolchains.flatMap((entry) => entry.packages.map((p) => p.sha256)));
  const plan = planGc(await inventory(manifest.cache), { ...opts, keep, roots, now: Date.now() });
  const verb = opts.dryRun ? 'would remove' : 'removed';
  if (opts.dryRun)
    for (const r of plan.records) process.stderr.write(`  ${r.node} (last used ${new Date(r.lastUsed).toISOString().slice(0, 16).replace('T', ' ')})\n`);
  if (!opts.dryRun) {
    const removed = await applyGc(manifest.cache, plan);
    if (removed.length > 0) {
      const stats = await StatCache.load(join(manifest.cache, STAT_CACHE_FILE));
      for (const p of removed) stats.forget(p);
      await stats.save();
    }
  }
  process.stderr.write(`mlc-build: gc ${verb} ${plan.records.length} results and ${plan.blobs.length} blobs: ${summary(plan, opts.dryRun)}\n`);
  if (plan.overLimit && opts.maxSize !== undefined) {
    process.stderr.write(
      `mlc-build: the store is still ${formatBytes(plan.sizeAfter)}, over ${formatBytes(opts.maxSize)}: the rest is what the current manifest uses${opts.all ? '' : ' (--all removes it too)'}\n`,
    );
  }
}

function summary(plan: GcPlan, dryRun: boolean): string {
  const linked = plan.stillLinked > 0 ? ` (${formatBytes(plan.stillLinked)} more is also linked from out/ folders, and stays on disk there)` : '';
  return `${dryRun ? 'would free' : 'freed'} ${formatBytes(plan.freed)}${linked}; the store ${dryRun ? 'would be' : 'is now'} ${formatBytes(plan.sizeAfter)}`;
}
