// The engine through its API (what watch mode drives): cancelling one running step of three, and a
// bug inside the engine reported as an internal error naming the node.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../src/app/project.js';
import { startBuild } from '../../src/exec/build.js';
import { BuildContext } from '../../src/exec/context.js';
import type { BuildEvent } from '../../src/exec/events.js';
import { readLock } from '../../src/lockfile/lock-file.js';
import { loadProjectState } from '../../src/store/project-state.js';
import { Store } from '../../src/store/store.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [cuda, vulkan, android]
`;

async function open(p: Project, env: NodeJS.ProcessEnv, make = (...args: ConstructorParameters<typeof BuildContext>) => new BuildContext(...args)) {
  const project = await loadProject({ cwd: p.dir, env });
  if (!project.ok) throw new Error(project.error.map((d) => d.message).join('\n'));
  const { manifest, graph, toolchain } = project.value;
  const store = await Store.open(manifest.cache);
  const ctx = make(
    manifest,
    graph,
    store,
    toolchain,
    env,
    await loadProjectState(manifest.cache, manifest.root),
    { verify: false },
    await readLock(manifest.root),
  );
  return { ctx, selected: new Set(graph.nodes.keys()) };
}

const alive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the engine', () => {
  it('cancels one running step of three: its process group and staging are gone, the other two finish and are recorded', async () => {
    const p = await Project.create(MANIFEST, { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' } });
    const env = { ...process.env, ...p.env, MLC_DOUBLE_SLEEP_MS: 'compile=1500' };
    const { ctx, selected } = await open(p, env);
    const events: BuildEvent[] = [];
    const handle = startBuild(ctx, selected, { jobs: 8, keepGoing: false, signal: new AbortController().signal, machine: { cpus: 4, gpus: 0 } }, (e) =>
      events.push(e),
    );
    const compiles = () => events.filter((e) => e.event === 'run' && e.kind === 'compile').map((e) => (e as { node: string }).node);
    for (let i = 0; i < 200 && compiles().length < 3; i++) await new Promise((r) => setTimeout(r, 25));
    expect(compiles()).toHaveLength(3);
    // Every compile's process is up once its staging folder has its pid file.
    const tmp = join(ctx.store.root, 'tmp');
    const pids = async () => {
      const out = new Map<string, number>();
      for (const d of (await readdir(tmp)).filter((n) => n.startsWith('compile_'))) {
        const pid = Number(await readFile(join(tmp, d, 'step.pid'), 'utf8').catch(() => '0'));
        if (pid > 0) out.set(d, pid);
      }
      return out;
    };
    for (let i = 0; i < 200 && (await pids()).size < 3; i++) await new Promise((r) => setTimeout(r, 25));
    const running = await pids();
    expect(running.size).toBe(3);
    const victim = 'compile:A/q4f16_1/vulkan';
    const [victimDir, victimPid] = [...running].find(([d]) => d.startsWith('compile_A_q4f16_1_vulkan')) as [string, number];
    expect(handle.cancel(victim)).toBe(true);
    expect(handle.cancel('compile:A/q4f16_1/none')).toBe(false);
    const outcome = await handle.done;
    expect(alive(victimPid)).toBe(false);
    expect(await readdir(tmp)).not.toContain(victimDir);
    expect(outcome.results.get(victim)).toMatchObject({ status: 'interrupted', reason: 'cancelled' });
    for (const other of ['compile:A/q4f16_1/cuda', 'compile:A/q4f16_1/android']) {
      const r = outcome.results.get(other);
      expect(r?.status).toBe('ran');
      expect(await ctx.store.getRecord(r?.key as string)).toBeDefined();
      expect(r?.outputs?.[0]?.path).toMatch(/^libs\/A-q4f16_1-(cuda\.so|android\.tar)$/);
    }
    expect(await readdir(tmp)).toEqual([]);
  });

  it('reports an exception inside the engine as an internal error naming the node, and goes on with the rest', async () => {
    const p = await Project.create(MANIFEST.replace('targets: [cuda, vulkan, android]', 'targets: [cuda, vulkan]'), {
      a: { preset: 'redpajama_3b_v1', weights: 'safetensors' },
    });
    const env = { ...process.env, ...p.env };
    class Faulty extends BuildContext {
      override target(name: string) {
        if (name === 'vulkan') throw new Error('a bug');
        return super.target(name);
      }
    }
    const { ctx, selected } = await open(p, env, (...args) => new Faulty(...args));
    const events: BuildEvent[] = [];
    const outcome = await startBuild(ctx, selected, { jobs: 4, keepGoing: true, signal: new AbortController().signal, machine: { cpus: 2, gpus: 0 } }, (e) =>
      events.push(e),
    ).done;
    expect(outcome.internalErrors).toBe(1);
    const failed = outcome.results.get('compile:A/q4f16_1/vulkan');
    expect(failed?.status).toBe('failed');
    expect(failed?.failure?.reason).toBe('internal');
    expect(failed?.failure?.message).toMatch(/^internal error while building compile:A\/q4f16_1\/vulkan: Error: a bug/);
    expect(outcome.results.get('compile:A/q4f16_1/cuda')?.status).toBe('ran');
  });
});
