// Watch mode end to end: the real CLI with the real chokidar, temp folders and the mlc_llm double.
// What ran is read from the double's logs (a start line per call, an end line per call that was
// not killed); no assertion is about time.
import { access, appendFile, chmod, mkdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { count, DOUBLE, Project } from '../helpers/project.js';
import { alive, finished, starts, stepProcesses, Watcher } from '../helpers/watch.js';

const MODEL = 'RedPajama-3B';
const manifest = (a = '', b = '', extra = '') => `version: 1
models:
  ${MODEL}: { source: ./hf/redpajama, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets:
  - { name: a, preset: cuda${a} }
  - { name: b, preset: vulkan${b} }
${extra}`;
const COMPILE_A = `compile:${MODEL}/q4f16_1/a`;
const COMPILE_B = `compile:${MODEL}/q4f16_1/b`;
const isCompileA = (args: string[]) => args.includes('cuda');

let watchers: Watcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.map((w) => w.stop()));
  watchers = [];
});

async function setup(extra = ''): Promise<{ p: Project; w: Watcher }> {
  const p = await Project.create(manifest('', '', extra), { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
  await writeFile(p.path('sleep.json'), '{}');
  const w = new Watcher(p, [], { MLC_DOUBLE_SLEEP_FILE: p.path('sleep.json') });
  watchers.push(w);
  const first = await w.rebuild(1);
  expect(finished(first, 'ran')).toContain(COMPILE_A);
  return { p, w };
}

/** Steps of the double sleep: a regex over "<staging name> <sub> <args>" → ms. */
const slow = (p: Project, table: Record<string, number>) => writeFile(p.path('sleep.json'), JSON.stringify(table));

describe('watch', { timeout: 120_000 }, () => {
  it('a conv template edit re-runs gen_config only; reverting it restores from the store without mlc_llm', async () => {
    const { p, w } = await setup();
    const before = (await p.calls()).length;
    await p.editManifest((y) => y.replace('redpajama_chat', 'LM'));
    const second = await w.rebuild(2);
    expect(w.triggers[0]?.files).toEqual(['mlc.build.yaml']);
    const calls = (await p.calls()).slice(before);
    expect(count(calls, 'gen_config')).toBe(1);
    expect(count(calls, 'compile')).toBe(0); // early cutoff: the library does not read the conv template
    expect(count(calls, 'convert_weight')).toBe(0);
    expect(finished(second, 'fresh')).toEqual(expect.arrayContaining([COMPILE_A, COMPILE_B]));
    expect(
      (JSON.parse(await readFile(p.path(`dist/${MODEL}-q4f16_1-MLC/mlc-chat-config.json`), 'utf8')) as { conv_template: { name: string } }).conv_template.name,
    ).toBe('LM');

    await p.editManifest((y) => y.replace('conv_template: LM', 'conv_template: redpajama_chat'));
    const third = await w.rebuild(3);
    expect((await p.calls()).length).toBe(before + calls.length);
    expect(finished(third, 'cached')).toEqual([`config:${MODEL}/q4f16_1/base`]);
  });

  it('a touch, an identical rewrite, a rename-over save of the same bytes, and writes to out/ and the store trigger nothing', async () => {
    const { p, w } = await setup();
    const weights = p.path('hf/redpajama/model.safetensors');
    const bytes = await readFile(weights);
    const later = new Date(Date.now() + 60_000);
    await utimes(weights, later, later);
    await writeFile(weights, bytes);
    await writeFile(p.path('hf/redpajama/.model.safetensors.tmp'), bytes);
    await rename(p.path('hf/redpajama/.model.safetensors.tmp'), weights); // an editor's atomic save
    await writeFile(p.path('hf/redpajama/config.json.swp'), 'vim swap');
    await writeFile(p.path('dist/libs/notes.txt'), 'mine');
    await writeFile(p.path('.mlc-build/scratch'), 'x');
    // Give the watcher time to see all of it, then make one real change: the next trigger names it alone.
    await new Promise((r) => setTimeout(r, 1500));
    const before = (await p.calls()).length;
    await p.editManifest((y) => `${y}# a comment\n`);
    const second = await w.rebuild(2);
    expect(w.triggers.map((t) => t.files)).toEqual([['mlc.build.yaml']]);
    expect((await p.calls()).length).toBe(before);
    expect(finished(second, 'ran')).toEqual([]);
  });

  it("a slow compile of target a goes on while target b's config changes; b rebuilds", async () => {
    const p = await Project.create(manifest(), { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
    await slow(p, { 'compile.*--device cuda': 4000 });
    const w = new Watcher(p, [], { MLC_DOUBLE_SLEEP_FILE: p.path('sleep.json') });
    watchers.push(w);
    await w.started('compile of a', (s) => s.sub === 'compile' && isCompileA(s.args));
    await p.editManifest(() => manifest('', ', config: { context_window_size: 1024 }'));
    // The first rebuild was superseded (no summary of its own); the one that took a's compile over reports it.
    const rebuild = await w.rebuild(1);
    expect(rebuild.filter((e) => e.event === 'trigger')).toHaveLength(1);
    expect(finished(rebuild, 'ran')).toEqual(expect.arrayContaining([COMPILE_A, COMPILE_B]));
    expect((await p.calls()).some((c) => c.sub === 'gen_config' && c.args.join(' ').includes('--context-window-size 1024'))).toBe(true);
    const compilesOfA = (await starts(p)).filter((s) => s.sub === 'compile' && isCompileA(s.args));
    expect(compilesOfA).toHaveLength(1); // started once…
    expect((await p.calls()).filter((c) => c.sub === 'compile' && isCompileA(c.args)).map((c) => c.status)).toEqual([0]); // …and finished once
    expect(w.events.filter((e) => e.event === 'cancelled')).toEqual([]);
  });

  it("a slow compile whose own target's context_window_size changes is cancelled and re-run with its new key", async () => {
    const { p, w } = await setup();
    await slow(p, { 'compile.*--device cuda': 30_000 });
    await p.editManifest(() => manifest(', opt: O3'));
    const old = await w.started('the slow compile', (s) => s.sub === 'compile' && s.args.includes('O3'));
    await slow(p, {}); // only that one is slow (the double reads the table as it starts)
    await access(p.path(`dist/libs/${MODEL}-q4f16_1-a.so`)); // the last good library stays while its rebuild runs
    await p.editManifest(() => manifest(', opt: O3, config: { context_window_size: 1024 }'));
    await w.until('the cancel', () => w.events.some((e) => e.event === 'cancelled' && e.node === COMPILE_A));
    const rebuild = await w.rebuild(2); // the rebuild for opt O3 was superseded before it ended
    expect(finished(rebuild, 'ran')).toContain(COMPILE_A);
    expect(alive(old.pid)).toBe(false);
    expect(stepProcesses(p)).toBe('');
    const compiles = (await p.calls()).filter((c) => c.sub === 'compile' && isCompileA(c.args));
    expect(compiles).toHaveLength(2); // the first build's, and the new key's; the cancelled one never ended
    expect(compiles[1]?.args).toContain('O3');
    expect((await starts(p)).filter((s) => s.sub === 'compile' && isCompileA(s.args))).toHaveLength(3);
    await w.stop();
    const status = await p.run(['status', '--json']);
    expect(status.stdout).not.toMatch(/"stale"|"missing"/);
    expect(w.events.filter((e) => e.event === 'cancelled').map((e) => e.node)).toEqual([COMPILE_A]);
  });

  it('with supersede: { compile: finish } the slow compile runs to its end and its record is kept', async () => {
    const { p, w } = await setup('watch: { supersede: { compile: finish } }\n');
    await slow(p, { 'compile.*--device cuda': 3000 });
    await p.editManifest(() => manifest(', opt: O3', '', 'watch: { supersede: { compile: finish } }\n'));
    await w.started('the slow compile', (s) => s.sub === 'compile' && s.args.includes('O3'));
    await slow(p, {});
    await p.editManifest(() => manifest(', opt: O3, config: { context_window_size: 1024 }', '', 'watch: { supersede: { compile: finish } }\n'));
    await w.rebuild(2);
    expect(w.events.filter((e) => e.event === 'cancelled')).toEqual([]);
    const calls = (await p.calls()).filter((c) => c.sub === 'compile' && isCompileA(c.args));
    expect(calls.map((c) => c.status)).toEqual([0, 0, 0]);
    expect(calls[2]?.start).toBeGreaterThanOrEqual(calls[1]?.end as number); // never two runs of one node at once
    // Reverting to opt O3 without the context window: the finished run's record is restored.
    const before = (await p.calls()).length;
    await p.editManifest(() => manifest(', opt: O3', '', 'watch: { supersede: { compile: finish } }\n'));
    const reverted = await w.rebuild(3);
    expect((await p.calls()).length).toBe(before);
    expect(finished(reverted, 'cached')).toContain(COMPILE_A);
  });

  it('a bad manifest edit prints the located error and watching goes on; the fix builds', async () => {
    const { p, w } = await setup();
    const good = await readFile(p.path('mlc.build.yaml'), 'utf8');
    await p.editManifest((y) => y.replace('preset: vulkan', 'preset: vulkn'));
    await w.until('the diagnostic', () => /mlc\.build\.yaml:\d+:\d+: .*vulkn/.test(w.stderr));
    // The line after the diagnostic is its own write: wait for it rather than race it.
    await w.until('the promise to go on', () => w.stderr.includes('still watching with the last good one'));
    expect(alive(w.pid)).toBe(true);
    await writeFile(p.path('mlc.build.yaml'), good.replace('targets:\n', 'targets:\n  - { name: c, preset: webgpu }\n'));
    const fixed = await w.rebuild(2);
    expect(finished(fixed, 'ran')).toContain(`compile:${MODEL}/q4f16_1/c`);
  });

  it('a step that fails is not re-run until an input changes', async () => {
    const p = await Project.create(manifest(), { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
    const w = new Watcher(p, ['-k'], { MLC_DOUBLE_FAIL: '--device vulkan' });
    watchers.push(w);
    const first = await w.rebuild(1);
    expect(finished(first, 'failed')).toEqual([COMPILE_B]);
    await p.editManifest((y) => y.replace('redpajama_chat', 'LM')); // changes no compile key
    const second = await w.rebuild(2);
    expect(finished(second, 'failed')).toEqual([COMPILE_B]);
    expect((await starts(p)).filter((s) => s.sub === 'compile' && s.args.includes('vulkan'))).toHaveLength(1);
    await p.editManifest(() => manifest('', ', opt: O3').replace('redpajama_chat', 'LM')); // its key changes
    await w.rebuild(3);
    expect((await starts(p)).filter((s) => s.sub === 'compile' && s.args.includes('vulkan'))).toHaveLength(2);
  });

  it('holds the project lock only while it builds; Ctrl-C stops a running step and exits 130', async () => {
    const { p, w } = await setup();
    const beside = await p.run(['build', '--no-wait']); // between rebuilds: the lock is free
    expect(beside.code).toBe(0);
    expect(beside.calls).toEqual([]);
    await slow(p, { 'compile.*--device cuda': 30_000 });
    await p.editManifest(() => manifest(', opt: O3'));
    const step = await w.started('the slow compile', (s) => s.sub === 'compile' && s.args.includes('O3'));
    const locked = await p.run(['build', '--no-wait']);
    expect(locked.code).not.toBe(0);
    expect(locked.stderr).toContain('another build of this project is running');
    w.signal('SIGINT');
    expect(await w.closed).toBe(130);
    expect(alive(step.pid)).toBe(false);
    expect(stepProcesses(p)).toBe('');
  });
  it('with one slot, a compile whose key waits for its config is cancelled so that the config can run', async () => {
    const p = await Project.create(manifest(), { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
    await writeFile(p.path('sleep.json'), '{}');
    const w = new Watcher(p, ['-j', '1'], { MLC_DOUBLE_SLEEP_FILE: p.path('sleep.json') });
    watchers.push(w);
    await w.rebuild(1);
    await slow(p, { 'compile.*--device cuda': 30_000 });
    await p.editManifest(() => manifest(', opt: O3'));
    const old = await w.started('the slow compile', (s) => s.sub === 'compile' && s.args.includes('O3'));
    await slow(p, {});
    await p.editManifest(() => manifest(', opt: O3, config: { context_window_size: 1024 }'));
    const rebuild = await w.rebuild(2);
    expect(w.events.filter((e) => e.event === 'cancelled')).toEqual([
      expect.objectContaining({ node: COMPILE_A, reason: expect.stringContaining('slot') as unknown }),
    ]);
    expect(finished(rebuild, 'ran')).toEqual(expect.arrayContaining([`config:${MODEL}/q4f16_1/ctx1k`, COMPILE_A]));
    expect(alive(old.pid)).toBe(false);
  });

  it('a toolchain upgrade rebuilds everything it made; a web runtime edit only the webgpu library', async () => {
    const p = await Project.create(manifest('', '', '').replace('targets:\n', 'targets:\n  - { name: c, preset: webgpu }\n'), {
      redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' },
    });
    // The toolchain is a console script in the project, as a venv's bin/mlc_llm is.
    const script = p.path('venv/bin/mlc_llm');
    await mkdir(p.path('venv/bin'), { recursive: true });
    await writeFile(script, `#!/bin/sh\nexec "${process.execPath}" "${DOUBLE}" "$@"\n`);
    await chmod(script, 0o755);
    const w = new Watcher(p, [], { MLC_BUILD_MLC_LLM: script });
    watchers.push(w);
    await w.rebuild(1);
    const before = (await p.calls()).length;
    await appendFile(p.path('mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), ' v2');
    await w.rebuild(2);
    expect(w.triggers[0]?.files).toEqual(['mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc']);
    expect((await p.calls()).slice(before).map((c) => `${c.sub} ${c.args[2]}`)).toEqual(['compile webgpu']);
    await appendFile(script, '# upgraded\n');
    const upgraded = await w.rebuild(3);
    expect(w.triggers[1]?.files).toEqual(['venv/bin/mlc_llm']);
    expect(finished(upgraded, 'ran')).toEqual(
      expect.arrayContaining([`convert:${MODEL}/q4f16_1`, `config:${MODEL}/q4f16_1/base`, COMPILE_A, COMPILE_B, `compile:${MODEL}/q4f16_1/c`]),
    );
  });

  it('off a terminal: plain lines, the files that triggered each rebuild, and a status line between rebuilds', async () => {
    const p = await Project.create(manifest(), { redpajama: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
    const w = new Watcher(p, [], {}, { json: false });
    watchers.push(w);
    const status = /watching \d+ files · last build OK in [\d.]+ s · \d+ ran.* · \d\d:\d\d:\d\d/;
    await w.until('the first status line', () => status.test(w.stderr));
    await p.editManifest((y) => y.replace('redpajama_chat', 'LM'));
    await w.until('the trigger', () => w.stderr.includes('changed: mlc.build.yaml'));
    await w.until('the second status line', () => (w.stderr.match(new RegExp(status.source, 'g')) ?? []).length === 2);
    expect(w.stderr).toMatch(/ran\s+config:RedPajama-3B\/q4f16_1\/base/);
  });
  it('watch: { poll: true, debounce_ms } in the manifest: polling sees a save', async () => {
    const { p, w } = await setup('watch: { poll: true, debounce_ms: 50 }\n');
    await p.editManifest((y) => y.replace('redpajama_chat', 'LM'));
    const second = await w.rebuild(2);
    expect(finished(second, 'ran')).toEqual([`config:${MODEL}/q4f16_1/base`]);
  });
  it('reverted while a finishing run goes on: the library in out/ is fresh at once, the late run never overwrites it, and the project stays locked until it ends', async () => {
    const { p, w } = await setup('watch: { supersede: { compile: finish } }\n');
    const lib = p.path(`dist/libs/${MODEL}-q4f16_1-a.so`);
    const original = await readFile(lib);
    // Long enough that the rebuild and one more command fit in it, even on a loaded machine.
    await slow(p, { 'compile.*--device cuda': 8000 });
    await p.editManifest(() => manifest(', opt: O3', '', 'watch: { supersede: { compile: finish } }\n'));
    const late = await w.started('the slow compile', (s) => s.sub === 'compile' && s.args.includes('O3'));
    await slow(p, {});
    await p.editManifest(() => manifest('', '', 'watch: { supersede: { compile: finish } }\n'));
    const reverted = await w.rebuild(2);
    expect(finished(reverted, 'fresh')).toContain(COMPILE_A); // the last good library never left out/
    // The rebuild is over, the late run is not: it still writes the store, so no other build may start.
    const during = await p.run(['build', '--no-wait']);
    expect(alive(late.pid), 'the late run was still running when the other build tried').toBe(true);
    expect(during.code).not.toBe(0);
    expect(during.stderr).toContain('another build of this project is running');
    await w.until('the late run to end', () => !alive(late.pid));
    await w.until('its result to be recorded', async () => (await p.calls()).some((c) => c.pid === late.pid));
    await new Promise((r) => setTimeout(r, 500)); // what the late run would place, it would place now
    expect((await readFile(lib)).equals(original)).toBe(true);
    // Once it has ended, the lock is let go.
    await w.until('the project lock to be let go', async () => (await p.run(['build', '--no-wait'])).code === 0);
    await w.stop();
    const status = await p.run(['status', '--json']);
    expect(status.stdout).not.toMatch(/"stale"|"missing"/);
  });
  it('a running step whose node left the graph is cancelled, and its library leaves out/ as after a build', async () => {
    const { p, w } = await setup();
    await slow(p, { 'compile.*--device vulkan': 30_000 });
    await p.editManifest(() => manifest('', ', opt: O3'));
    const old = await w.started('the slow compile of b', (s) => s.sub === 'compile' && s.args.includes('O3'));
    await p.editManifest((y) => y.replace(/ {2}- \{ name: b.*\n/, ''));
    await w.rebuild(2);
    expect(w.events.filter((e) => e.event === 'cancelled')).toEqual([{ event: 'cancelled', node: COMPILE_B, reason: 'no longer in the build' }]);
    expect(alive(old.pid)).toBe(false);
    expect(stepProcesses(p)).toBe('');
    await expect(access(p.path(`dist/libs/${MODEL}-q4f16_1-b.so`))).rejects.toThrow(/ENOENT/); // out/ holds what the manifest names
    await access(p.path(`dist/libs/${MODEL}-q4f16_1-a.so`));
  });
});
