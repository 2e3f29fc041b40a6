import { describe, expect, it } from 'vitest';
import { Costs } from '../../src/ci/cost.js';
import { planJobs } from '../../src/ci/jobs.js';
import { parseShard, shardCells } from '../../src/ci/shard.js';
import { webRuntimeCommit } from '../../src/ci/web-runtime.js';
import type { ToolchainPin } from '../../src/lockfile/lock-file.js';
import { graphOf, manifestOf } from '../helpers/manifest.js';

const TARGETS = ['cuda', 'metal', 'metal-x86_64', 'vulkan', 'vulkan-windows', 'webgpu', 'iphone', 'android'];
const manifestWith = (models: number, extra = '') =>
  `version: 1
models:
${Array.from({ length: models }, (_, i) => `  m${String(i).padStart(2, '0')}: { source: ./hf/m${i}, conv_template: llama-2 }`).join('\n')}
quantizations: [q4f16_1, q4f32_1]
targets: [${TARGETS.join(', ')}]
${extra}`;

describe('matrix jobs', () => {
  it('fits 640 cells into at most 256 jobs, every cell once, each job on one runner', () => {
    const { manifest, graph } = graphOf(manifestWith(40));
    expect(manifest.cells).toHaveLength(640);
    const jobs = planJobs(manifest, graph, manifest.cells, new Costs(manifest, graph), { groupBy: 'cell', maxJobs: 256, stage: 'compile' });
    if (!jobs.ok) throw new Error(jobs.error);
    expect(jobs.value.length).toBeLessThanOrEqual(256);
    const all = jobs.value.flatMap((j) => j.cells);
    expect(all.sort()).toEqual(manifest.cells.map((c) => c.id).sort());
    const runnerOf = new Map(manifest.targets.map((t) => [t.name, JSON.stringify(t.runner)]));
    for (const j of jobs.value) expect(new Set(j.cells.map((c) => runnerOf.get(c.split('/')[2] ?? '')))).toEqual(new Set([JSON.stringify(j.runs_on)]));
    expect(new Set(jobs.value.map((j) => j.name)).size).toBe(jobs.value.length);
    // Fewer jobs than runners cannot be.
    const tight = planJobs(manifest, graph, manifest.cells, new Costs(manifest, graph), { groupBy: 'target', maxJobs: 3, stage: 'compile' });
    expect(tight.ok ? '' : tight.error).toMatch(/need \d+ different runners/);
  });

  it('takes runner labels from the presets, a target’s runs_on and ci.runs_on; compile jobs never convert', () => {
    const { manifest, graph } = graphOf(
      manifestWith(2, 'ci:\n  runs_on: { convert: [self-hosted, a100], webgpu: web-runner }\n').replace(
        'targets: [cuda,',
        'targets: [{ name: cuda, preset: cuda, runs_on: [self-hosted, h100] },',
      ),
    );
    const costs = new Costs(manifest, graph);
    const jobs = planJobs(manifest, graph, manifest.cells, costs, { groupBy: 'target', maxJobs: 256, stage: 'compile' });
    if (!jobs.ok) throw new Error(jobs.error);
    const by = new Map(jobs.value.map((j) => [j.name, j]));
    expect(by.get('compile cuda')?.runs_on).toEqual(['self-hosted', 'h100']);
    expect(by.get('compile webgpu')?.runs_on).toBe('web-runner');
    expect(by.get('compile metal')?.runs_on).toBe('macos-14');
    expect(by.get('compile vulkan-windows')?.runs_on).toEqual(['self-hosted', 'windows', 'vulkan']);
    expect(by.get('compile iphone')?.build).toBe('step=compile target=iphone');
    const converts = planJobs(manifest, graph, manifest.cells, costs, { groupBy: 'target', maxJobs: 256, stage: 'convert' });
    if (!converts.ok) throw new Error(converts.error);
    expect(converts.value.map((j) => j.build)).toContain('--all-hosts step=convert model=m00 quant=q4f16_1');
    expect(new Set(converts.value.map((j) => JSON.stringify(j.runs_on)))).toEqual(new Set([JSON.stringify(['self-hosted', 'a100'])]));
    // --group-by model splits a model's cells by runner: one model per job, and every cell of a job on its runner.
    const models = planJobs(manifest, graph, manifest.cells, costs, { groupBy: 'model', maxJobs: 256, stage: 'compile' });
    if (!models.ok) throw new Error(models.error);
    const runnerOf = new Map(manifest.targets.map((t) => [t.name, JSON.stringify(t.runner)]));
    for (const j of models.value) {
      expect(new Set(j.cells.map((c) => c.split('/')[0])).size).toBe(1);
      expect(new Set(j.cells.map((c) => runnerOf.get(c.split('/')[2] ?? '')))).toEqual(new Set([JSON.stringify(j.runs_on)]));
    }
    expect(models.value.filter((j) => j.cells.some((c) => c.startsWith('m00/'))).length).toBeGreaterThan(1);
  });
});

describe('shards', () => {
  it('for n = 1..5: every cell in exactly one shard, the same on every run, balanced by expected cost', () => {
    const { manifest, graph } = graphOf(manifestWith(3));
    const costs = new Costs(manifest, graph);
    for (let n = 1; n <= 5; n++) {
      const shards = shardCells(manifest.cells, costs, n);
      expect(shardCells(manifest.cells, new Costs(manifest, graph), n)).toEqual(shards);
      const ids = shards.flatMap((s) => s.map((c) => c.id));
      expect(ids.sort()).toEqual(manifest.cells.map((c) => c.id).sort());
      const loads = shards.map((s) => s.reduce((a, c) => a + costs.compile(c), 0));
      const mean = loads.reduce((a, b) => a + b, 0) / n;
      const longest = Math.max(...manifest.cells.map((c) => costs.compile(c)));
      expect(Math.max(...loads)).toBeLessThanOrEqual(Math.max(mean * 1.2, longest));
      // Longest first, so the cells placed last are the cheap ones: the slowest and the quickest
      // shard differ by at most one of the cheapest cells (filled cheapest first, by a whole long one).
      const cheapest = Math.min(...manifest.cells.map((c) => costs.compile(c)));
      expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(cheapest);
    }
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(parseShard('0/5')).toMatch(/1-based/);
    expect(parseShard('6/5')).toMatch(/between 1 and n/);
    expect(parseShard('2')).toMatch(/must be i\/n/);
  });
});

describe('webgpu: the mlc-llm commit of the web runtime, known before ci init writes a job', () => {
  const WEB = `version: 1
models:
  a: { source: ./hf/a, conv_template: llama-2 }
  b: { source: ./hf/b, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [webgpu, android]
`;
  const MLC = 'https://github.com/mlc-ai/mlc-llm';
  const withInstall = (install: string, yaml = WEB) => manifestOf(`${yaml}toolchain:\n  install: ${install}\n`);
  const decide = (install: string, pins: ToolchainPin[] = []) => webRuntimeCommit(withInstall(install), pins);
  const commitOf = (install: string, pins: ToolchainPin[] = []) => {
    const d = decide(install, pins);
    return d.ok && d.value.kind === 'pinned' ? d.value.commit : d.ok ? d.value.kind : d.error.message;
  };

  it('names the commit from a git+ URL of mlc-llm at a hex commit, a wheel or requirement whose version carries +g<hex>, or a lock pin', () => {
    expect(commitOf(`{ packages: ["git+${MLC}@0123abc"] }`)).toBe('0123abc');
    expect(commitOf(`{ packages: ["mlc-llm @ git+${MLC}.git@${'a1'.repeat(20)}#subdirectory=python", numpy] }`)).toBe('a1'.repeat(20));
    expect(commitOf('{ packages: [./wheels/mlc_llm-0.1.dev0+g1a2b3c4-cp311-cp311-linux_x86_64.whl] }')).toBe('1a2b3c4');
    expect(commitOf('{ packages: ["https://example.com/w/mlc_llm_cuda-0.20.dev3%2Bg89abcde.d20240101-cp311-cp311-linux_x86_64.whl#sha256=00"] }')).toBe(
      '89abcde',
    );
    expect(commitOf('{ packages: ["mlc-llm==0.1.dev0+gfedcba9"] }')).toBe('fedcba9');
    const pin = { name: 'mlc_llm', version: '0.1.dev7+g7654321', sha256: '0'.repeat(64) };
    expect(commitOf('nightly', [pin])).toBe('7654321');
    const d = decide('nightly', [pin]);
    expect(d.ok && d.value.kind === 'pinned' && d.value.by).toBe('mlc_llm 0.1.dev7+g7654321 (mlc.build.lock)');
  });

  it('refuses a managed toolchain that names no commit: nightly, a branch, the default branch, another repository, a short hex', () => {
    const nightly = decide('nightly', [{ name: 'mlc-llm-nightly-cpu', version: '0.1.dev1234', sha256: '0'.repeat(64) }]);
    expect(nightly.ok).toBe(false);
    if (nightly.ok) return;
    const { message, location } = nightly.error;
    expect(message).toContain('the webgpu cells (target webgpu: a/q4f16_1/webgpu, b/q4f16_1/webgpu)');
    expect(message).toContain("the web runtime built at the mlc-llm commit of the toolchain's mlc_llm");
    expect(message).toContain("toolchain.install: nightly does not name one (MLC's nightly wheels record no commit)");
    expect(message).toContain(`Fix: pin mlc_llm at a commit, toolchain: { install: { packages: [git+${MLC}@COMMIT] } }, or remove webgpu from targets`);
    expect(message).toContain('nothing written');
    expect(message).not.toContain('android');
    expect(location?.sourceLine).toBe('  install: nightly');
    const refused = (install: string) => {
      const r = decide(install);
      return r.ok ? `accepted: ${r.value.kind}` : r.error.message;
    };
    expect(refused(`{ packages: ["git+${MLC}@main"] }`)).toContain(`git+${MLC}@main names main, a branch or tag, not a commit`);
    expect(refused(`{ packages: ["git+${MLC}"] }`)).toContain('names no commit (the default branch)');
    expect(refused('{ packages: ["git+https://github.com/someone/mlc-llm@0123abc"] }')).toContain('name none');
    expect(refused(`{ packages: ["git+${MLC}@0123ab"] }`)).toContain('a branch or tag, not a commit');
    expect(refused('{ packages: [mlc-llm-nightly-cpu==0.1.dev1234] }')).toContain("toolchain.install's packages (mlc-llm-nightly-cpu==0.1.dev1234) name none");
    // A branch stays refused even when the lock holds a build of it: the checkout would follow the branch.
    const branchPinned = webRuntimeCommit(withInstall(`{ packages: ["git+${MLC}@main"] }`), [
      { name: 'mlc-llm', version: '0.1.dev0+g0123abc', sha256: '0'.repeat(64) },
    ]);
    expect(branchPinned.ok).toBe(false);
  });

  it('needs nothing without webgpu cells; unmanaged, it notes what every runner that builds them needs', () => {
    expect(webRuntimeCommit(withInstall('nightly', WEB.replace('webgpu, ', '')), []).ok).toBe(true);
    const excluded = manifestOf(`${WEB}matrix: { exclude: [ { target: webgpu } ] }\ntoolchain: { install: nightly }\n`);
    expect(webRuntimeCommit(excluded, [])).toEqual({ ok: true, value: { kind: 'not-needed' } });
    const unmanaged = webRuntimeCommit(manifestOf(`${WEB}toolchain: { mlc_llm: mlc_llm }\n`), []);
    expect(unmanaged.ok && unmanaged.value.kind === 'unmanaged' && unmanaged.value.note).toContain(
      `the webgpu cells (target webgpu: a/q4f16_1/webgpu, b/q4f16_1/webgpu) build the web runtime at the mlc-llm commit of the runner's mlc_llm`,
    );
  });
});
