// CI fan-out end to end: `matrix` through the real CLI (GITHUB_OUTPUT, --only-missing against a
// real nginx remote cache) and `build --shard` with the mlc_llm double.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { NGINX, Nginx } from '../helpers/nginx.js';
import { Project } from '../helpers/project.js';
import { lacks } from '../helpers/tools.js';

const MANIFEST = `version: 1
models:
  qwen: { source: ./hf/qwen, conv_template: qwen2 }
  llama: { source: ./hf/llama, conv_template: llama-3 }
quantizations: [q4f16_1]
targets: [webgpu, android, vulkan-generic, opencl]
`;
const MODELS = { qwen: { preset: 'qwen2_0_5b', weights: 'safetensors' }, llama: { preset: 'llama3_2_1b', weights: 'safetensors' } } as const;

interface Matrix {
  include: { name: string; build: string; runs_on: string | string[]; cells: string[]; est_seconds: number }[];
}
const events = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; node?: string; status?: string });

describe('matrix and shards', () => {
  it('matrix --format github prints the jobs and writes matrix, count and has_work to GITHUB_OUTPUT', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const out = join(await tempDir(), 'github-output');
    const r = await p.run(['matrix', '--format', 'github'], { GITHUB_OUTPUT: out });
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as Matrix;
    expect(m.include.map((j) => j.name)).toEqual(['compile android', 'compile opencl', 'compile vulkan-generic', 'compile webgpu']);
    expect(m.include.find((j) => j.name === 'compile webgpu')).toMatchObject({
      build: 'step=compile target=webgpu',
      runs_on: 'ubuntu-latest',
      cells: ['llama/q4f16_1/webgpu', 'qwen/q4f16_1/webgpu'],
    });
    const written = await readFile(out, 'utf8');
    expect(written).toBe(`matrix=${JSON.stringify(m)}\ncount=4\nhas_work=true\n`);
    expect(r.calls).toEqual([]); // a plan of jobs runs nothing
  });

  it('build --shard i/n: the shards together build every library once, and no shard downloads or converts weights', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const built: string[] = [];
    for (const i of [1, 2, 3]) {
      const r = await p.run(['build', '--shard', `${i}/3`, '--json']);
      expect(r.code).toBe(0);
      expect(r.calls.filter((c) => c.sub === 'convert_weight')).toEqual([]);
      const finished = events(r.stdout).filter((e) => e.event === 'finish');
      expect(finished.filter((e) => e.node?.endsWith('/weights') || e.node?.startsWith('convert:'))).toEqual([]);
      built.push(...r.calls.filter((c) => c.sub === 'compile').map((c) => c.args[c.args.indexOf('-o') + 1] ?? ''));
    }
    expect(built.length).toBe(8);
    expect(new Set(built).size).toBe(8);
    const usage = await p.run(['build', '--shard', '4/3']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('i must be between 1 and n');
  });
});

describe.skipIf(lacks('nginx', NGINX !== undefined))('matrix --only-missing (nginx as the remote cache)', () => {
  let server: Nginx;
  let a: Project;
  beforeAll(async () => {
    server = await Nginx.start();
    a = await Project.create(MANIFEST, MODELS);
    expect((await a.run(['--remote-cache', server.url])).code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const missing = async (edit?: (y: string) => string) => {
    const b = await Project.create(edit ? edit(MANIFEST) : MANIFEST, MODELS);
    const out = join(await tempDir(), 'github-output');
    const r = await b.run(['matrix', '--only-missing'], { MLC_BUILD_REMOTE_CACHE: server.url, GITHUB_OUTPUT: out });
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => c.sub !== 'gen_config')).toEqual([]); // configs only: no conversion, no compile
    return { matrix: JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Matrix, output: await readFile(out, 'utf8') };
  };

  it('has no work when the remote has every library', async () => {
    const { matrix, output } = await missing();
    expect(matrix).toEqual({ include: [] });
    expect(output).toContain('has_work=false\n');
  });

  it('a changed conv template builds no library (early cutoff); a target’s context window, exactly its cells', async () => {
    const conv = await missing((y) => y.replace('conv_template: qwen2', 'conv_template: chatml'));
    expect(conv.matrix.include).toEqual([]);
    const ctx = await missing((y) => y.replace('android,', '{ name: android, preset: android, config: { context_window_size: 1024 } },'));
    expect(ctx.matrix.include.flatMap((j) => j.cells).sort()).toEqual(['llama/q4f16_1/android', 'qwen/q4f16_1/android']);
  });

  it('needs a remote cache', async () => {
    const r = await a.run(['matrix', '--only-missing'], { MLC_BUILD_REMOTE_CACHE: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--only-missing asks the remote cache');
  });
});
