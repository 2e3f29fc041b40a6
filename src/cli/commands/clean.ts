import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import type { Command } from 'commander';
import { loadProjectState, projectStatePath } from '../../store/project-state.js';
import { deleteStamp, EXIT, lockProject, removeDeadProbes, type GlobalOptions } from '../../app/index.js';
import { hashFile } from '../../store/hash.js';
import type { Manifest } from '../../manifest/types.js';
import { load } from '../context.js';

export function registerClean(program: Command, setExit: (code: number) => void): void {
  program
    .command('clean')
    .description('remove what mlc-build placed in out/ (files it did not place are kept)')
    .option('--cache', 'also delete the whole store (cache:), shared by every project that uses it')
    .action(async (opts: { cache?: boolean }) => {
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
        await clean(manifest, opts.cache ?? false);
      } finally {
        if (!opts.cache) await locked.value.release();
      }
    });
}

async function clean(manifest: Manifest, cache: boolean): Promise<void> {
  const state = await loadProjectState(manifest.cache, manifest.root);
  let removed = 0;
  let kept = 0;
  for (const [path, p] of Object.entries(state.placed)) {
    const now = await hashFile(path).catch(() => undefined);
    if (!now) continue;
    if (now.digest !== p.digest) {
      kept++; // changed by someone else since: not ours to delete
      continue;
    }
    await rm(path, { force: true });
    removed++;
    let dir = dirname(path);
    while (!relative(manifest.out, dir).startsWith('..') && (await readdir(dir).catch(() => ['?'])).length === 0) {
      await rmdir(dir).catch(() => undefined);
      if (dir === manifest.out) break;
      dir = dirname(dir);
    }
  }
  removeDeadProbes(manifest.out);
  removeDeadProbes(manifest.cache);
  await rm(projectStatePath(manifest.cache, manifest.root), { force: true });
  deleteStamp(manifest.root, process.env);
  if (cache) await rm(manifest.cache, { recursive: true, force: true });
  process.stderr.write(
    `mlc-build: removed ${removed} files from ${relative(process.cwd(), manifest.out) || '.'}${kept ? `, kept ${kept} changed since they were placed` : ''}${cache ? `, and the store ${manifest.cache}` : ''}\n`,
  );
}
