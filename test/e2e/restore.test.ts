// Restoring out/ from the store: every file back with its bytes, linked to its blob (or a reflink
// where the filesystem has them), known to the stat cache so that the next build reads none of
// them, and nothing a killed restore left behind survives the next build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, copyFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  M: { source: ./hf/m, conv_template: llama-2 }
quantizations: [q0f16, q4f16_1]
targets: [cuda, android]
`;
const MODELS = { m: { preset: 'llama2_7b', weights: 'safetensors' as const } };

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Every file under `dir`: path relative to it → sha256. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length + 1)] = sha(await readFile(join(e.parentPath, e.name)));
  }
  return out;
}

/** Whether the filesystem of the temp folders makes reflinks (then placed files are not hardlinks). */
async function hasReflinks(): Promise<boolean> {
  const dir = await tempDir('mlc-build-reflink-');
  await writeFile(join(dir, 'a'), 'a');
  try {
    copyFileSync(join(dir, 'a'), join(dir, 'b'), constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  }
}

/** The pid of a process that has ended (so no live process owns it). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('restoring out/ from the store', () => {
  let p: Project;
  let built: Record<string, string>;

  beforeAll(async () => {
    p = await Project.create(MANIFEST, MODELS);
    // 1 MiB of weights in 64 KiB shards: folders of many files.
    await writeFile(p.path('hf/m/model.safetensors'), Buffer.alloc(1 << 20, 7));
    expect((await p.run()).code).toBe(0);
    built = await tree(p.path('dist'));
    expect(Object.keys(built).filter((f) => f.startsWith('M-q0f16-MLC/params_shard_')).length).toBeGreaterThan(10);
  });

  it('after rm -rf out/, a build restores every file without a call: the same bytes, each linked to its blob, known to the stat cache', async () => {
    await rm(p.path('dist'), { recursive: true });
    const r = await p.run();
    expect(r.code, r.stderr).toBe(0);
    expect(r.calls).toEqual([]);
    expect(r.stderr).not.toMatch(/^ {2}ran /m);
    expect(await tree(p.path('dist'))).toEqual(built);
    const reflinks = await hasReflinks();
    const cache = JSON.parse(await readFile(p.path('.mlc-build/stat-cache.json'), 'utf8')) as Record<string, { ino: string; digest: string }>;
    for (const [file, digest] of Object.entries(built)) {
      const placed = await stat(p.path('dist', file));
      const blob = await stat(p.path('.mlc-build/cas', digest.slice(0, 2), digest));
      if (!reflinks) expect(placed.ino, file).toBe(blob.ino);
      // The next build trusts it by its stat: same inode, same digest.
      expect(cache[p.path('dist', file)], file).toEqual(expect.objectContaining({ ino: String(placed.ino), digest }));
    }
    const again = await p.run(['build', '--all-hosts']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/nothing to do \(\d+ fresh\)/);
  });

  it('into folders that partly exist: only the missing files are placed, and a file the user put there is kept', async () => {
    await rm(p.path('dist/M-q0f16-MLC/params_shard_3.bin'));
    await rm(p.path('dist/M-q4f16_1-ctx768-MLC'), { recursive: true });
    await writeFile(p.path('dist/M-q0f16-MLC/NOTES.md'), 'mine');
    const r = await p.run();
    expect(r.code, r.stderr).toBe(0);
    expect(r.calls).toEqual([]);
    expect(await tree(p.path('dist'))).toEqual({ ...built, 'M-q0f16-MLC/NOTES.md': sha(Buffer.from('mine')) });
    await rm(p.path('dist/M-q0f16-MLC/NOTES.md'));
  });

  it("a killed build's temp files and folders in out/ are removed by the next build; a live process's are kept", async () => {
    const dead = deadPid();
    const leftovers = [
      `M-q0f16-MLC.mlc-build-${dead}.tmp/params_shard_0.bin`,
      `M-q0f16-MLC/params_shard_0.bin.mlc-build-${dead}.tmp`,
      `libs.mlc-build-${dead}.tmp/x.so`,
    ];
    const live = `M-q4f16_1-MLC.mlc-build-${process.pid}.tmp/params_shard_0.bin`;
    for (const f of [...leftovers, live]) {
      await mkdir(join(p.path('dist', f), '..'), { recursive: true });
      await writeFile(p.path('dist', f), 'half');
    }
    await rm(p.path('dist/libs/M-q0f16-cuda.so')); // so the build has work to do
    const r = await p.run();
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(p.path('dist'))).toEqual({ ...built, [live]: sha(Buffer.from('half')) });
    await rm(p.path('dist', live, '..'), { recursive: true });
  });
});
