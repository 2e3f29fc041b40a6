// The no-op stamp, however the command is called: a second identical run is answered from stats
// alone (MLC_BUILD_NOOP_TRACE says so on stderr) and prints what the full run printed; every input
// that can change a key or the selection makes the next run take the full path again.
import { appendFile, chmod, copyFile, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, tempDir } from '../helpers/cli.js';
import { count, DOUBLE, Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
  B: { source: ./hf/b, conv_template: llama-2 }
quantizations: [q4f16_1, q0f16]
targets: [android, webgpu, metal]
`;
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const }, b: { preset: 'llama2_7b', weights: 'safetensors' as const } };
const TRACE = { MLC_BUILD_NOOP_TRACE: '1' };
const hostAware = { MLC_BUILD_ALL_HOSTS: '' };
const ANSWERED = /^mlc-build: no-op stamp: answered from (\d+) stats$/m;
const WRITTEN = /^mlc-build: no-op stamp written$/m;

/** What a run printed, with the time it took and the trace lines left out, NDJSON lines sorted (their order is the scheduler's). */
function printed(r: { stdout: string; stderr: string }): { stdout: string; stderr: string } {
  const lines = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('mlc-build: no-op stamp'))
      .map((l) => l.replace(/ in \d+(\.\d)?m?s$/, ' in T').replace(/"ms":\d+/g, '"ms":T'));
  const out = lines(r.stdout);
  return { stdout: (r.stdout.startsWith('{') ? out.sort() : out).join('\n'), stderr: lines(r.stderr).join('\n') };
}

/** Runs traced; says whether the stamp answered. */
async function traced(p: Project, args: string[] = [], env: Record<string, string> = {}) {
  const r = await p.run(args, { ...TRACE, ...env });
  return { ...r, answered: ANSWERED.test(r.stderr), written: WRITTEN.test(r.stderr) };
}

/** Folders under `dir` (and itself) made to look last changed an hour ago: old enough to vouch for their entries. */
async function ageFolders(dir: string): Promise<void> {
  const then = new Date(Date.now() - 3600_000);
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await ageFolders(join(dir, e.name));
  await utimes(dir, then, then);
}

describe.runIf(process.platform === 'linux')('the no-op stamp answers every form of the command line', () => {
  it('a second identical run is answered from the stamp and prints what the full run printed', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run([], hostAware)).code).toBe(0);
    const elsewhere = await tempDir();
    const forms: [string, string[], Record<string, string>, string?][] = [
      ['mlc-build (host-aware)', [], hostAware],
      ['build --all-hosts', ['build', '--all-hosts'], hostAware],
      ['MLC_BUILD_ALL_HOSTS=1 build', ['build'], { MLC_BUILD_ALL_HOSTS: '1' }],
      ['selectors', ['model=A', 'quant=q0f16'], hostAware],
      ['-j 2 -k', ['-j', '2', '-k'], hostAware],
      ['--jobs=1 --keep-going', ['build', '--jobs=1', '--keep-going'], hostAware],
      ['-C DIR from another folder', ['-C', p.dir], hostAware, elsewhere],
      ['--json', ['--json'], hostAware],
      ['--json --all-hosts', ['--all-hosts', '--json'], hostAware],
      ['status', ['status'], hostAware],
      ['status --json --all-hosts', ['status', '--json', '--all-hosts'], hostAware],
    ];
    for (const [name, args, env, cwd] of forms) {
      const go = async () => {
        const r = cwd === undefined ? await p.run(args, { ...TRACE, ...env }) : await run(args, { cwd, env: { ...p.env, ...TRACE, ...env } });
        return { ...r, answered: ANSWERED.test(r.stderr), written: WRITTEN.test(r.stderr) };
      };
      expect((await go()).code).toBe(0); // builds what this form adds (--all-hosts: the other hosts' cells)
      await rm(p.path('.xdg-cache/mlc-build/noop'), { recursive: true, force: true }); // a full no-op, to compare with
      const full = await go();
      expect({ name, code: full.code, answered: full.answered, written: full.written }).toEqual({ name, code: 0, answered: false, written: true });
      const again = await go();
      expect({ name, code: again.code, answered: again.answered }).toEqual({ name, code: 0, answered: true });
      expect({ name, ...printed(again) }).toEqual({ name, ...printed(full) });
    }
    // What they print, for the record: the cells skipped here, then the summary.
    await p.run([], hostAware);
    const plain = await p.run([], hostAware);
    expect(plain.stderr).toMatch(
      /^mlc-build: skipping 8 libraries this host cannot build: webgpu needs emscripten; metal needs macOS .*\nmlc-build: nothing to do \(\d+ fresh\) in \d+ms\n$/,
    );
  });

  it('-j with a bad value, a misplaced command and options it does not read are left to the CLI', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [android, webgpu, metal]', 'targets: [android]'), MODELS);
    expect((await traced(p)).written).toBe(true);
    const bad = await traced(p, ['-j', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--jobs must be a positive integer, got 0');
    const misplaced = await traced(p, ['model=A', 'status']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.answered).toBe(false);
    // -q asks a question the stamp does not record; -n prints the plan.
    expect((await traced(p, ['-q'])).answered).toBe(false);
    expect((await traced(p, ['-n'])).stdout).toContain('nothing to do');
  });
});

describe.runIf(process.platform === 'linux')('the no-op stamp never hides a change', () => {
  const subs = (r: { calls: { sub: string }[] }) => r.calls.map((c) => c.sub).sort();

  it("a relative PATH entry is the project folder's, also when -C names it from elsewhere", async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const elsewhere = await tempDir();
    const env = { ...p.env, ...TRACE, ...hostAware, PATH: `tools:${process.env.PATH ?? ''}` };
    const go = async () => {
      const r = await run(['-C', p.dir], { cwd: elsewhere, env });
      return { ...r, answered: ANSWERED.test(r.stderr) };
    };
    expect((await go()).code).toBe(0);
    expect((await go()).answered).toBe(true);
    await mkdir(p.path('tools'));
    await writeFile(p.path('tools/emcc'), '#!/bin/sh\nexit 0\n');
    await chmod(p.path('tools/emcc'), 0o755);
    const found = await go();
    expect(found.answered).toBe(false);
    expect(found.stderr).toContain('skipping 4 libraries this host cannot build: metal needs macOS');
  });

  it('a tool the host checks look for appearing on PATH (or becoming runnable) voids a host-aware stamp', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const tools = await tempDir();
    const path = { ...hostAware, PATH: `${tools}:${process.env.PATH ?? ''}` };
    expect((await traced(p, [], path)).written).toBe(true);
    expect((await traced(p, [], path)).answered).toBe(true);

    // emcc, not runnable yet: the host check asks whether it may be run.
    await writeFile(join(tools, 'emcc'), '#!/bin/sh\nexit 0\n');
    const notYet = await traced(p, [], path);
    expect(notYet.answered).toBe(false);
    expect(notYet.stderr).toContain(`void: a host check's answer may have changed: ${join(tools, 'emcc')}`);
    expect(notYet.calls).toEqual([]);
    expect((await traced(p, [], path)).answered).toBe(true);

    await chmod(join(tools, 'emcc'), 0o755);
    const webgpu = await traced(p, [], path);
    expect(webgpu.answered).toBe(false);
    expect(webgpu.stderr).toContain('skipping 4 libraries this host cannot build: metal needs macOS');
    expect(count(webgpu.calls, 'compile')).toBe(4);
    expect((await traced(p, [], path)).answered).toBe(true);

    // xcrun decides nothing here, but the checks look for it: its arrival is a change they read.
    await writeFile(join(tools, 'xcrun'), '#!/bin/sh\nexit 0\n');
    await chmod(join(tools, 'xcrun'), 0o755);
    expect((await traced(p, [], path)).answered).toBe(false);
  });

  it('an environment variable the host checks read, the manifest, a source file, a selector, --all-hosts, the toolchain', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const emcc = await tempDir();
    await writeFile(join(emcc, 'emcc'), '#!/bin/sh\nexit 0\n');
    await chmod(join(emcc, 'emcc'), 0o755);
    const env = { ...hostAware, PATH: `${emcc}:${process.env.PATH ?? ''}` };
    expect((await traced(p, [], env)).written).toBe(true);

    // The web runtime's folder, read by the webgpu check: unset, webgpu is skipped.
    const noRuntime = await traced(p, [], { ...env, MLC_LLM_SOURCE_DIR: '' });
    expect(noRuntime.answered).toBe(false);
    expect(noRuntime.stderr).toContain('webgpu needs the web runtime mlc_wasm_runtime.bc');
    expect((await traced(p, [], { ...env, MLC_LLM_SOURCE_DIR: '' })).answered).toBe(true);
    expect((await traced(p, [], env)).answered).toBe(false);

    // --all-hosts, and a different selector, have stamps of their own.
    const all = await traced(p, ['--all-hosts'], env);
    expect(all.answered).toBe(false);
    expect(count(all.calls, 'compile')).toBe(4); // metal, tried anyway
    expect((await traced(p, ['model=A'], env)).answered).toBe(false);
    expect((await traced(p, ['model=A'], env)).answered).toBe(true);
    expect((await traced(p, ['model=B'], env)).answered).toBe(false);

    // The manifest.
    expect((await traced(p, [], env)).written).toBe(true);
    await p.editManifest((y) => y.replace('conv_template: llama-2', 'conv_template: llama-3'));
    const edited = await traced(p, [], env);
    expect(edited.stderr).toContain('void: the manifest changed');
    expect(count(edited.calls, 'gen_config')).toBeGreaterThan(0);
    expect(count(edited.calls, 'convert_weight')).toBe(0);

    // A source file rewritten in place, same size.
    expect((await traced(p, [], env)).answered).toBe(true);
    const w = p.path('hf/a/model.safetensors');
    const bytes = await readFile(w);
    bytes[0] = (bytes[0] as number) ^ 1;
    await writeFile(w, bytes);
    const touched = await traced(p, [], env);
    expect(touched.answered).toBe(false);
    expect(count(touched.calls, 'convert_weight')).toBe(2);

    // The toolchain's own file, changed at the same path.
    const tool = join(DOUBLE, '..', `mlc_llm_noop_${process.pid}.mjs`);
    await copyFile(DOUBLE, tool);
    await chmod(tool, 0o755);
    try {
      const withTool = { ...env, MLC_BUILD_MLC_LLM: tool };
      expect((await traced(p, [], withTool)).answered).toBe(false); // another toolchain: the environment says so
      expect((await traced(p, [], withTool)).answered).toBe(true);
      await appendFile(tool, '\n// patched\n');
      const patched = await traced(p, [], withTool);
      expect(patched.stderr).toContain(`void: ${tool} changed`);
      expect(count(patched.calls, 'convert_weight')).toBe(4);
    } finally {
      await rm(tool, { force: true });
    }
  });

  it('an output removed or changed under folders old enough to vouch for their entries', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await traced(p, ['--all-hosts'])).written).toBe(true); // written just after placing: its folders are too fresh to vouch
    await ageFolders(p.path('dist'));
    await ageFolders(p.path('hf'));
    const racy = await traced(p, ['--all-hosts']);
    expect(racy.answered).toBe(true);
    // The folders have aged: the stamp now trusts them, and needs fewer stats.
    const vouched = await traced(p, ['--all-hosts']);
    expect(vouched.answered).toBe(true);
    expect(Number(ANSWERED.exec(vouched.stderr)?.[1])).toBeLessThan(Number(ANSWERED.exec(racy.stderr)?.[1]));

    // A variant's weights are links to the base variant's files: the base was checked, the variant's folder vouches for the rest.
    const variant = (await readdir(p.path('dist'))).find((f) => /^A-q4f16_1-.+-MLC$/.test(f)) as string;
    const shard = p.path('dist', variant, 'params_shard_0.bin');
    expect((await stat(shard)).nlink).toBeGreaterThan(1);
    await rm(shard);
    const removed = await traced(p, ['--all-hosts']);
    expect(removed.answered).toBe(false);
    expect(removed.stderr).toContain(`void: ${shard} changed`);
    expect((await stat(shard)).size).toBeGreaterThan(0); // restored

    // A library changed in place (same size): the file's own stat tells, and the build puts it right.
    await ageFolders(p.path('dist'));
    expect((await traced(p, ['--all-hosts'])).answered).toBe(true);
    expect((await traced(p, ['--all-hosts'])).answered).toBe(true);
    const lib = p.path('dist/libs', (await readdir(p.path('dist/libs'))).find((f) => f.includes('android')) as string);
    const original = await readFile(lib);
    await chmod(lib, 0o644);
    const tampered = Buffer.from(original);
    tampered[0] = (tampered[0] as number) ^ 1;
    await writeFile(lib, tampered);
    const changed = await traced(p, ['--all-hosts']);
    expect(changed.answered).toBe(false);
    expect(changed.stderr).toContain(`void: ${lib} changed`);
    expect(await readFile(lib)).toEqual(original);

    // A file added beside the sources in a folder a decision listed.
    await ageFolders(p.path('hf'));
    expect((await traced(p, ['--all-hosts'])).answered).toBe(true);
    expect((await traced(p, ['--all-hosts'])).answered).toBe(true);
    await writeFile(p.path('hf/b/added_tokens.json'), '{}');
    const added = await traced(p, ['--all-hosts']);
    expect(added.answered).toBe(false);
    expect(subs(added)).toEqual(['gen_config', 'gen_config', 'gen_config', 'gen_config']);
  });

  it('status is answered only while every artifact is fresh', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await traced(p, ['--all-hosts'])).code).toBe(0);
    expect((await traced(p, ['status'], hostAware)).written).toBe(true);
    expect((await traced(p, ['status'], hostAware)).answered).toBe(true);
    const lib = p.path('dist/libs', (await readdir(p.path('dist/libs'))).find((f) => f.includes('metal')) as string);
    await rm(lib);
    const missing = await traced(p, ['status'], hostAware);
    expect(missing.answered).toBe(false);
    expect(missing.stdout).toMatch(/^unavailable +dist\/libs\/.*metal/m);
    expect(missing.stderr).toContain('no-op stamp written'); // unavailable here needs no store lookup to say
    expect((await traced(p, ['status'], hostAware)).answered).toBe(true);
    // A library that can be restored from the store is "cached": the next status asks again.
    const android = p.path('dist/libs', (await readdir(p.path('dist/libs'))).find((f) => f.includes('android')) as string);
    await rm(android);
    const cached = await traced(p, ['status'], hostAware);
    expect(cached.stdout).toMatch(/^cached +dist\/libs\/.*android/m);
    expect(cached.stderr).toContain('no-op stamp not written: not every artifact is fresh');
    expect((await traced(p, ['status'], hostAware)).answered).toBe(false);
  });

  it('a stamp of another shape, or a cache folder that cannot be written, costs a full check and nothing else', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await traced(p, ['--all-hosts'])).written).toBe(true);
    const stamps = p.path('.xdg-cache/mlc-build/noop');
    for (const folder of await readdir(stamps))
      for (const f of await readdir(join(stamps, folder))) {
        const stamp = JSON.parse(await readFile(join(stamps, folder, f), 'utf8')) as Record<string, unknown>;
        await writeFile(join(stamps, folder, f), JSON.stringify({ ...stamp, files: null }));
      }
    const odd = await traced(p, ['--all-hosts']);
    expect(odd.code).toBe(0);
    expect(odd.stderr).toContain('mlc-build: no-op stamp: void: unreadable stamp');
    expect(odd.stderr).toMatch(/nothing to do \(\d+ fresh\)/);
    expect(odd.written).toBe(true);
    expect((await traced(p, ['--all-hosts'])).answered).toBe(true);

    const notAFolder = p.path('cache-file');
    await writeFile(notAFolder, '');
    const unwritable = await traced(p, ['--all-hosts'], { XDG_CACHE_HOME: notAFolder });
    expect(unwritable.code).toBe(0);
    expect(unwritable.stderr).toContain('mlc-build: no-op stamp not written: cannot write');
  });

  it('a build deletes every stamp of its project before it starts; clean too', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const stamps = p.path('.xdg-cache/mlc-build/noop');
    expect((await traced(p, ['--all-hosts'])).written).toBe(true);
    expect((await traced(p, ['status', '--all-hosts'])).written).toBe(true);
    const folder = (await readdir(stamps))[0] as string;
    expect(await readdir(join(stamps, folder))).toHaveLength(2);
    await traced(p, ['model=A', '--all-hosts']);
    expect(await readdir(join(stamps, folder))).toHaveLength(1);
    expect((await traced(p, ['clean'])).code).toBe(0);
    await expect(readdir(join(stamps, folder))).rejects.toThrow();
  });
});
