import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import type { Command } from 'commander';
import { displayPath } from '../../display-path.js';
import { loadProjectState, projectStatePath } from '../../store/project-state.js';
import { deleteStamps, EXIT, lockProject, removeDeadProbes, type GlobalOptions } from '../../app/index.js';
import { hashFile } from '../../store/hash.js';
import type { Manifest } from '../../manifest/types.js';
import { load } from '../context.js';

export function registerClean(program: Command, setExit: (code: number) => void): void {
  program
    .command('clean')
    .description('remove what mlc-build placed in out/ (files it did not place are kept)')
    .option('--cache', 'also delete the whole store (cache:), shared by every project that uses it')
    .option('-n, --dry-run', 'list what would be removed (on stdout), remove nothing')
    .action(async (opts: { cache?: boolean; dryRun?: boolean }) => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      const { manifest } = project;
      const locked = await lockProject(manifest, true);
      if (!locked.ok) {
        setExit(locked.error);
        return;
      }
      try {
        await clean(manifest, opts.cache ?? false, opts.dryRun ?? false);
      } finally {
        if (!opts.cache || opts.dryRun) await locked.value.release();
      }
    });
}

async function clean(manifest: Manifest, cache: boolean, dryRun: boolean): Promise<void> {
  const state = await loadProjectState(manifest.cache, manifest.root);
  const removable: string[] = [];
  let kept = 0;
  for (const [path, p] of Object.entries(state.placed)) {
    const now = await hashFile(path).catch(() => undefined);
    if (!now) continue;
    if (now.digest !== p.digest)
      kept++; // changed by someone else since: not ours to delete
    else removable.push(path);
  }
  const from = displayPath(manifest.out, process.cwd());
  const keptText = kept ? `, keep ${kept} changed since they were placed` : '';
  if (dryRun) {
    for (const path of removable) process.stdout.write(`${displayPath(path, process.cwd())}\n`);
    process.stderr.write(
      `mlc-build: would remove ${removable.length} files from ${from}${keptText}${cache ? `, and the store ${manifest.cache}` : ''}; nothing removed (--dry-run)\n`,
    );
    return;
  }
  for (const path of removable) await removeWithEmptyFolders(path, manifest.out);
  removeDeadProbes(manifest.out);
  removeDeadProbes(manifest.cache);
  await rm(projectStatePath(manifest.cache, manifest.root), { force: true });
  deleteStamps(manifest.root, process.env);
  if (cache) await rm(manifest.cache, { recursive: true, force: true });
  process.stderr.write(
    `mlc-build: removed ${removable.length} files from ${from}${kept ? `, kept ${kept} changed since they were placed` : ''}${cache ? `, and the store ${manifest.cache}` : ''}\n`,
  );
}

/** Removes a file, then the folders under out/ it leaves empty. */
async function removeWithEmptyFolders(path: string, out: string): Promise<void> {
  await rm(path, { force: true });
  let dir = dirname(path);
  while (!relative(out, dir).startsWith('..') && (await readdir(dir).catch(() => ['?'])).length === 0) {
    await rmdir(dir).catch(() => undefined);
    if (dir === out) break;
    dir = dirname(dir);
  }
}
