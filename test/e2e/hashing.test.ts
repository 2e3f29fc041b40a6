// Hashing large files end to end: a local model's shards (hashed in the worker threads, all at
// once) are pinned with the sha256 anyone else computes, a step's large outputs enter the store
// under their own sha256, and a digest computed once is not computed again.
import { createHash } from 'node:crypto';
import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Project } from '../helpers/project.js';

const MiB = 1024 * 1024;
const MANIFEST = `version: 1
models:
  M: { source: ./hf/m, conv_template: llama-2 }
quantizations: [q0f16]
targets: [cuda]
`;

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

/** Bytes that differ all along (a chunk hashed twice or skipped changes the digest). */
function counting(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) out.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return out;
}

/** Three 9 MiB shards, with their index: large enough for the hashing threads. */
async function writeShards(p: Project): Promise<string[]> {
  const names = [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`);
  for (const [i, name] of names.entries()) await writeFile(p.path('hf/m', name), counting(9 * MiB + i * 4099, i));
  await writeFile(p.path('hf/m/model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [`l${i}`, n])) }));
  return names;
}

type Lock = { sources: Record<string, { files: Record<string, string> }> };
type Cache = Record<string, { digest: string; ino: string; mtime: string }>;

describe('hashing large files', () => {
  it("a local model's shards are pinned with their sha256; the next plan hashes none of them again; an edited one gets its new digest", async () => {
    const p = await Project.create(MANIFEST, { m: { preset: 'llama2_7b', weights: 'safetensors' } });
    const names = await writeShards(p);
    await rm(p.path('hf/m/model.safetensors'));
    const built = await p.run([], { MLC_DOUBLE_SHARD_CAP: String(9 * MiB) });
    expect(built.code, built.stderr).toBe(0);
    const lock = JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as Lock;
    for (const name of names) expect(lock.sources['./hf/m']?.files[name], name).toBe(`sha256:${await sha(p.path('hf/m', name))}`);

    // The converted weights (three 9 MiB shards too) are stored under their own sha256.
    const blobs = (await readdir(p.path('.mlc-build/cas'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    const converted = await readdir(p.path('dist/M-q0f16-MLC'));
    expect(converted.filter((f) => f.startsWith('params_shard_')).length).toBeGreaterThanOrEqual(3);
    for (const b of blobs) expect(await sha(join(b.parentPath, b.name)), b.name).toBe(b.name);

    const cacheBefore = JSON.parse(await readFile(p.path('.mlc-build/stat-cache.json'), 'utf8')) as Cache;
    expect((await p.run(['plan'])).code).toBe(0);
    const cacheAfter = JSON.parse(await readFile(p.path('.mlc-build/stat-cache.json'), 'utf8')) as Cache;
    for (const name of names) expect(cacheAfter[p.path('hf/m', name)]).toEqual(cacheBefore[p.path('hf/m', name)]);

    await appendFile(p.path('hf/m', names[1] as string), 'x');
    const plan = await p.run(['plan', '--json']);
    expect(plan.code).toBe(0);
    const edited = (JSON.parse(await readFile(p.path('.mlc-build/stat-cache.json'), 'utf8')) as Cache)[p.path('hf/m', names[1] as string)];
    expect(edited?.digest).toBe(await sha(p.path('hf/m', names[1] as string)));
  });
});
