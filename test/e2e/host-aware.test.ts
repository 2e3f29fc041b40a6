// Host-aware builds on this Linux machine: cells that need macOS are skipped (said once, grouped by
// what is missing), a cell named explicitly is an error, plan marks them unavailable, and
// --all-hosts tries them anyway (the mlc_llm double builds for every platform).
import { existsSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { count, Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
  B: { source: ./hf/b, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [android, metal, iphone]
matrix:
  exclude: [ { model: B, target: android } ]
`;
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const }, b: { preset: 'llama2_7b', weights: 'safetensors' as const } };
const hostAware = { MLC_BUILD_ALL_HOSTS: '' };
// cuda is another host's only where no NVIDIA GPU is; on Linux x64 that host is this platform.
const gpuLessLinuxX64 = process.arch === 'x64' && !readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n));
const WITH_CUDA = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
  B: { source: ./hf/b, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [android, metal, cuda]
`;
const releasedCells = async (p: Project) =>
  (JSON.parse(await readFile(p.path('release/release.json'), 'utf8')) as { libraries: { cell: string }[] }).libraries.map((l) => l.cell).sort();

describe.runIf(process.platform === 'linux')('host-aware builds (on Linux)', () => {
  it('skip what needs macOS, say so once grouped by what is missing, and exit 0; a model with nothing buildable is skipped whole', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run([], hostAware);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'mlc-build: skipping 4 libraries this host cannot build: metal, iphone need macOS (build them on such a host, or on CI; --all-hosts tries anyway)\n',
    );
    expect(r.stderr.match(/skipping/g)).toHaveLength(1);
    expect(r.calls.filter((c) => c.sub === 'compile').map((c) => c.args[c.args.indexOf('--device') + 1])).toEqual(['android']);
    // B has only macOS cells: not even converted.
    expect(r.calls.some((c) => c.args.some((a) => a.includes('hf/b') || a.includes('convert_B')))).toBe(false);
    expect(count(r.calls, 'convert_weight')).toBe(1);
  });

  it('a target named explicitly that this host cannot build is an error saying what is missing', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['target=iphone'], hostAware);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'mlc-build: target=iphone cannot be built on this host: it needs macOS (build it on such a host or on CI, or pass --all-hosts to try anyway)',
    );
    expect(r.calls).toEqual([]);
    const byId = await p.run(['compile:A/q4f16_1/metal'], hostAware);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toContain('compile:A/q4f16_1/metal cannot be built on this host: metal needs macOS');
  });

  it('model= selects a set and skips like the whole manifest; nothing buildable is said and exits 0', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['model=B'], hostAware);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('mlc-build: nothing in the selection can be built on this host: skipping 2 libraries: metal, iphone need macOS');
    expect(r.calls).toEqual([]);
  });

  it('plan marks such cells unavailable here, with the reason', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['plan', '--json'], hostAware);
    expect(r.code).toBe(0);
    const nodes = (JSON.parse(r.stdout) as { nodes: { id: string; state: string; reason: string }[] }).nodes;
    expect(nodes.find((n) => n.id === 'compile:A/q4f16_1/metal')).toMatchObject({ state: 'unavailable', reason: 'unavailable here: metal needs macOS' });
    expect(nodes.find((n) => n.id === 'compile:A/q4f16_1/android')).toMatchObject({ state: 'stale', reason: 'waits for config:A/q4f16_1/ctx768' });
  });

  it('--all-hosts (or MLC_BUILD_ALL_HOSTS=1) tries every cell', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['--all-hosts'], hostAware);
    expect(r.code).toBe(0);
    expect(count(r.calls, 'compile')).toBe(5);
    expect(r.stderr).not.toContain('skipping');
  });

  it('build --shard i/n takes the same cells with and without --all-hosts, every cell in exactly one shard; a shard holding cells this host cannot build fails before building, naming them and their runner', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const cellsOf = (stderr: string) => [...stderr.matchAll(/^ {2}(\S+\/\S+\/\S+)/gm)].map((m) => m[1] ?? '');
    const slices: string[][] = [];
    for (let i = 1; i <= 3; i++) {
      const here = await p.run(['build', '--shard', `${i}/3`, '-n'], hostAware);
      const everywhere = await p.run(['--all-hosts', 'build', '--shard', `${i}/3`, '-n'], hostAware);
      expect(here.code).toBe(0);
      expect(cellsOf(here.stderr)).toEqual(cellsOf(everywhere.stderr));
      slices.push(cellsOf(here.stderr));
      // -n marks the cells this host cannot build.
      for (const line of here.stderr.split('\n').filter((l) => /\/(metal|iphone)\b/.test(l) && l.startsWith('  ')))
        expect(line).toContain('not on this host: needs macOS');
    }
    expect(slices.flat().sort()).toEqual(['A/q4f16_1/android', 'A/q4f16_1/iphone', 'A/q4f16_1/metal', 'B/q4f16_1/iphone', 'B/q4f16_1/metal']);
    const withMac = slices.findIndex((s) => s.some((c) => c.endsWith('/metal') || c.endsWith('/iphone')));
    const r = await p.run(['build', '--shard', `${withMac + 1}/3`], hostAware);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds cells this host cannot build/);
    expect(r.stderr).toMatch(/needs macOS \(runner macos-\d+/);
    expect(r.calls.filter((c) => c.sub === 'compile')).toEqual([]);
  });

  it('a weights folder is placed whole or not at all: a variant only a cell this host cannot build uses is not made, status and build agree; built with --all-hosts it stays whole and fresh', async () => {
    const p = await Project.create(
      `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [vulkan-generic, iphone]
`,
      { a: MODELS.a },
    );
    const variant = p.path('dist/A-q4f16_1-ctx768-MLC');
    const built = await p.run([], hostAware);
    expect(built.code, built.stderr).toBe(0);
    expect(existsSync(variant)).toBe(false);
    expect(existsSync(p.path('dist/A-q4f16_1-MLC/mlc-chat-config.json'))).toBe(true);
    const states = async () => {
      const r = await p.run(['status', '--json'], hostAware);
      return Object.fromEntries((JSON.parse(r.stdout) as { path: string; state: string }[]).map((row) => [row.path, row.state]));
    };
    expect(await states()).toMatchObject({
      'dist/A-q4f16_1-MLC/': 'fresh',
      'dist/A-q4f16_1-ctx768-MLC/': 'unavailable',
      'dist/libs/A-q4f16_1-iphone.tar': 'unavailable',
    });
    expect((await p.run(['build', '-q'], hostAware)).code).toBe(0); // build agrees: nothing to do

    expect((await p.run(['--all-hosts'], hostAware)).code).toBe(0);
    const whole = ['mlc-chat-config.json', 'params_shard_0.bin', 'tensor-cache.json'];
    for (const f of whole) expect(existsSync(join(variant, f)), f).toBe(true);
    const again = await p.run([], hostAware);
    expect(again.code).toBe(0);
    expect(again.calls).toEqual([]);
    for (const f of whole) expect(existsSync(join(variant, f)), f).toBe(true);
    expect(Object.values(await states())).toEqual(['fresh', 'fresh', 'fresh', 'fresh']);
  });

  it.runIf(gpuLessLinuxX64)(
    'release names what another host needs: its own platform key and the toolchain lock that supplies it; for cuda on this platform, --all-hosts or a runner with the GPU',
    async () => {
      const p = await Project.create(WITH_CUDA, MODELS);
      expect((await p.run([], hostAware)).code).toBe(0);
      const r = await p.run(['release', 'model=A'], hostAware);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        '  A/q4f16_1/metal: cannot be built on this host: metal needs macOS (and its key needs the toolchain fingerprint of darwin-arm64, which only a managed toolchain pins: set toolchain.install, then mlc-build toolchain lock --platform darwin_arm64-cp311)\n',
      );
      expect(r.stderr).toContain(
        '  A/q4f16_1/cuda: cannot be built on this host: cuda needs a local NVIDIA (CUDA) GPU (and it can be built here with --all-hosts, or on a runner with that GPU)\n',
      );
      expect(r.stderr).not.toContain('linux-x64');
    },
  );

  it.runIf(gpuLessLinuxX64)(
    'release takes the libraries built here with --all-hosts as they are (plan and status call them fresh); a target with only some of them here names --all-hosts',
    async () => {
      const p = await Project.create(WITH_CUDA, MODELS);
      expect((await p.run(['--all-hosts'], hostAware)).code).toBe(0);
      const r = await p.run(['release'], hostAware);
      expect(r.code, r.stderr).toBe(0);
      expect(r.calls.filter((c) => c.sub === 'compile')).toEqual([]);
      expect(await releasedCells(p)).toEqual([
        'A/q4f16_1/android',
        'A/q4f16_1/cuda',
        'A/q4f16_1/metal',
        'B/q4f16_1/android',
        'B/q4f16_1/cuda',
        'B/q4f16_1/metal',
      ]);

      await rm(p.path('dist/libs/B-q4f16_1-metal.so'));
      const some = await p.run(['release'], hostAware);
      expect(some.code).toBe(1);
      expect(some.stderr).toMatch(
        /^ {2}A\/q4f16_1\/metal: cannot be built on this host: metal needs macOS \(.*\); its library here was built with --all-hosts: pass --all-hosts to release it$/m,
      );
      expect(some.stderr).not.toMatch(/^ {2}A\/q4f16_1\/cuda/m);
      expect((await p.run(['--all-hosts', 'release'], hostAware)).code).toBe(0);
    },
  );

  it('explain of a node this host cannot build says what it lacks, not that it must run; built with --all-hosts it is fresh', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run([], hostAware)).code).toBe(0);
    const r = await p.run(['explain', 'compile:A/q4f16_1/metal'], hostAware);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^compile:A\/q4f16_1\/metal: unavailable here: metal needs macOS\n {2}a build on this host leaves it out: build it on such a host or on CI, or pass --all-hosts to try it here\n/,
    );
    expect(r.stdout).not.toContain('must run');
    const variant = await p.run(['explain', 'config:B/q4f16_1/ctx768'], hostAware);
    expect(variant.stdout).toContain('config:B/q4f16_1/ctx768: unavailable here: only cells this host cannot build need it');
    expect((await p.run(['explain', 'compile:A/q4f16_1/android'], hostAware)).stdout).toMatch(/^compile:A\/q4f16_1\/android: fresh\n/);
    expect((await p.run(['--all-hosts'], hostAware)).code).toBe(0);
    expect((await p.run(['explain', 'compile:A/q4f16_1/metal'], hostAware)).stdout).toMatch(/^compile:A\/q4f16_1\/metal: fresh\n/);
  });
});
