// What the last build of this project did: each node's key (for explain and status) and every file
// it placed in out/ (so files the manifest no longer names can be removed, and no others).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { sha256 } from './hash.js';
import type { Tree } from './store.js';

export interface ProjectState {
  version: 3;
  root: string;
  /**
   * Each node's last key; sources keep their fields here (a step's are beside its action record),
   * steps their output tree, so a fresh step is known without reading the store.
   */
  nodes: Record<string, { key: string; fields?: Record<string, unknown>; outputs?: Tree }>;
  placed: Record<string, { digest: string; node: string }>;
}

export function projectStatePath(storeRoot: string, projectRoot: string): string {
  return join(storeRoot, 'projects', `${sha256(projectRoot).slice(0, 16)}.json`);
}

export async function loadProjectState(storeRoot: string, projectRoot: string): Promise<ProjectState> {
  try {
    const s = JSON.parse(await readFile(projectStatePath(storeRoot, projectRoot), 'utf8')) as Partial<ProjectState> | null;
    if (s?.version === 3 && s.root === projectRoot) return s as ProjectState;
  } catch {
    // first build
  }
  return { version: 3, root: projectRoot, nodes: {}, placed: {} };
}

export async function saveProjectState(storeRoot: string, state: ProjectState): Promise<void> {
  await writeFileAtomic(projectStatePath(storeRoot, state.root), JSON.stringify(state));
}
