// The targets this host cannot build, keyed as the machines that build them key them (see
// toolchain/managed/foreign.ts): for commands that look up other hosts' results.
import { readLock } from '../lockfile/lock-file.js';
import { foreignKey, type ForeignKey } from '../toolchain/managed/foreign.js';
import type { HostView } from './host-aware.js';
import type { Project } from './project.js';

export async function foreignKeys(project: Project, host: HostView): Promise<Map<string, ForeignKey>> {
  const lock = await readLock(project.manifest.root);
  const managed = project.manifest.toolchain.install !== undefined && project.toolchain.from === 'managed';
  const keying = { lock, install: managed ? project.manifest.toolchain.install : undefined, here: `${process.platform}-${process.arch}` };
  const out = new Map<string, ForeignKey>();
  for (const t of project.manifest.targets) if (host.missing.has(t.name)) out.set(t.name, foreignKey(t, keying));
  return out;
}
