// What a build leaves for the user to pick up: a failed step's command that runs as printed, and
// no stray files (probe files of processes that died are removed by the next build and by clean).
import { spawnSync } from 'node:child_process';
import { watch } from 'node:fs';
import { access, readdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [cuda]
`;
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const } };

/** The pid of a process that has ended (so no live process owns it). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('what a build leaves behind', () => {
  it("a failed step's command, pasted into a shell in the project folder, makes its output folder and runs", async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const failed = await p.run([], { MLC_DOUBLE_FAIL: '^compile' });
    expect(failed.code).toBe(1);
    const line = /^ {2}\$ (.*)$/m.exec(failed.stderr)?.[1];
    expect(line, failed.stderr).toBeDefined();
    expect(line).toMatch(/^mkdir -p dist\/libs && /);
    await expect(access(p.path('dist/libs'))).rejects.toThrow(/ENOENT/);
    const pasted = spawnSync('sh', ['-c', line ?? 'false'], { cwd: p.dir, env: { ...process.env, ...p.env }, encoding: 'utf8' });
    expect(pasted.status, pasted.stderr).toBe(0);
    await access(p.path('dist/libs/A-q4f16_1-cuda.so'));
  });

  it('probe files of dead processes in out/ and the store are removed by the next build and by clean; a live one is kept', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run()).code).toBe(0);
    const plant = async () => {
      for (const dir of ['dist', '.mlc-build']) {
        await writeFile(p.path(dir, `.mlc-build-probe-${deadPid()}`), '');
        await writeFile(p.path(dir, `.mlc-build-probe-${process.pid}`), '');
      }
    };
    const probes = async () =>
      [...(await readdir(p.path('dist'))), ...(await readdir(p.path('.mlc-build')))].filter((n) => n.startsWith('.mlc-build-probe-')).sort();
    const live = [`.mlc-build-probe-${process.pid}`, `.mlc-build-probe-${process.pid}`];
    await plant();
    await p.editManifest((y) => y.replace('[cuda]', '[cuda, vulkan]')); // a build with work to do (a no-op answers from its stamp)
    expect((await p.run()).code).toBe(0);
    expect(await probes()).toEqual(live);
    await plant();
    expect((await p.run(['clean'])).code).toBe(0);
    expect(await probes()).toEqual(live);
  });

  it('a build writes no probe file at all, so no kill -9 moment can leave one (inotify sees every file made)', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run()).code).toBe(0);
    const seen: string[] = [];
    const watchers = ['dist', '.mlc-build'].map((dir) => watch(p.path(dir), (_event, name) => seen.push(String(name))));
    try {
      await p.editManifest((y) => y.replace('[cuda]', '[cuda, vulkan]'));
      expect((await p.run()).code).toBe(0);
      await new Promise((r) => setTimeout(r, 100)); // let the last events arrive
    } finally {
      for (const w of watchers) w.close();
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((n) => n.startsWith('.mlc-build-probe-'))).toEqual([]);
  });
});
