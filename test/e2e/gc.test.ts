// gc through the CLI: what the current manifest uses stays restorable; what it dropped goes.
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { count, Project } from '../helpers/project.js';

const MODELS = { r: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const }, l: { preset: 'llama2_7b', weights: 'safetensors' as const } };
const BOTH = `version: 1
models:
  A: { source: ./hf/r, conv_template: redpajama_chat }
  B: { source: ./hf/l, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [android]
`;
const ONLY_A = BOTH.replace(/ {2}B: .*\n/, '');

async function blobCount(p: Project): Promise<number> {
  let n = 0;
  for (const d of await readdir(p.path('.mlc-build/cas'))) n += (await readdir(p.path('.mlc-build/cas', d))).length;
  return n;
}

describe('gc', () => {
  it("keeps what the current manifest's outputs use, removes what it dropped, and --dry-run removes nothing", async () => {
    const p = await Project.create(BOTH, MODELS);
    expect((await p.run()).code).toBe(0);
    await p.editManifest(() => ONLY_A);
    expect((await p.run()).code).toBe(0);
    const before = await blobCount(p);

    const dry = await p.run(['gc', '--max-size', '0', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain('convert:B/q4f16_1');
    expect(dry.stderr).not.toContain('convert:A/q4f16_1');
    expect(dry.stderr).toMatch(/gc would remove 4 results and \d+ blobs/);
    expect(await blobCount(p)).toBe(before);

    const gc = await p.run(['gc', '--max-size', '0']);
    expect(gc.code).toBe(0);
    expect(gc.stderr).toMatch(/gc removed 4 results and \d+ blobs: freed /);
    expect(gc.stderr).toContain('the rest is what the current manifest uses');
    expect(await blobCount(p)).toBeLessThan(before);

    // A is still all in the store: out/ comes back without running mlc_llm.
    await p.run(['clean']);
    const restore = await p.run();
    expect(restore.code).toBe(0);
    expect(restore.calls).toEqual([]);
    expect(restore.stderr).toMatch(/cached\s+compile:A\/q4f16_1\/android/);

    // B was removed: bringing it back runs its steps again.
    await p.editManifest(() => BOTH);
    const back = await p.run();
    expect(count(back.calls, 'convert_weight')).toBe(1);
    expect(count(back.calls, 'compile')).toBe(1);
  });

  it('--all removes what the current manifest uses too; older-than keeps what was used recently', async () => {
    const p = await Project.create(ONLY_A, MODELS);
    expect((await p.run()).code).toBe(0);
    const recent = await p.run(['gc', '--older-than', '1d', '--all']);
    expect(recent.stderr).toMatch(/gc removed 0 results/);
    const all = await p.run(['gc', '--all', '--max-size', '0']);
    expect(all.stderr).toMatch(/gc removed 4 results/);
    await p.run(['clean']);
    const again = await p.run();
    expect(count(again.calls, 'convert_weight')).toBe(1);
  });

  it('--all without a limit removes everything the current manifest does not need, and --dry-run lists it by node', async () => {
    const p = await Project.create(BOTH, MODELS);
    expect((await p.run()).code).toBe(0);
    await p.editManifest(() => ONLY_A);
    expect((await p.run()).code).toBe(0);
    const dry = await p.run(['gc', '--all', '--dry-run']);
    expect(dry.stderr).toMatch(/^ {2}convert:B\/q4f16_1 \(last used /m);
    expect(dry.stderr).not.toContain('convert:A/q4f16_1');
    expect(dry.stderr).toMatch(/gc would remove 4 results/);
    const all = await p.run(['gc', '--all']);
    expect(all.stderr).toMatch(/gc removed 4 results/);
    await p.run(['clean']);
    expect((await p.run()).calls).toEqual([]); // what A needs is all still there
  });

  it('a build warns when the store is over cache.max_size; bad sizes are usage errors', async () => {
    const p = await Project.create(ONLY_A.replace('version: 1\n', 'version: 1\ncache: { max_size: 1KB }\n'), MODELS);
    const r = await p.run();
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: the store \S+ holds [\d.]+ [KM]B, over cache.max_size 1.00 KB: run mlc-build gc/);
    const bad = await p.run(['gc', '--max-size', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-size lots is not a size');
  });
});
