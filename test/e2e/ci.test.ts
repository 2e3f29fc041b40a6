// CI fan-out end to end: `matrix` through the real CLI (GITHUB_OUTPUT, --only-missing against a
// real nginx remote cache) and `build --shard` with the mlc_llm double.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, run, tempDir, tempProject } from '../helpers/cli.js';
import { HubServer } from '../helpers/hub-server.js';
import { gitlabProblems } from '../helpers/gitlab-ci.js';
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
/** A managed toolchain whose install names the mlc-llm commit, as webgpu jobs need. */
const PINNED = 'toolchain: { install: { packages: ["git+https://github.com/mlc-ai/mlc-llm@0123abcd"] } }\n';
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

  it('matrix --stage takes the kinds that are CI stages: compile (the default) and convert', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const convert = await p.run(['matrix', '--format', 'json', '--stage', 'convert']);
    expect(convert.code).toBe(0);
    const jobs = (JSON.parse(convert.stdout) as Matrix).include;
    expect(jobs.length).toBeGreaterThan(0);
    for (const j of jobs) expect(j.build).toMatch(/^--all-hosts step=convert /);
    const config = await p.run(['matrix', '--stage', 'config']);
    expect(config.code).toBe(2);
    expect(config.stderr).toContain('--stage must be compile or convert, got "config"');
    expect((await p.run(['matrix', '--help'])).stdout).toMatch(/--stage <stage>\s+compile \(libraries\) or convert \(weights\)\s+\(default:\s+"compile"\)/);
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
      const compiles = r.calls.filter((c) => c.sub === 'compile');
      expect(r.stderr).toContain(`shard ${i}/3: ${compiles.length} libraries`);
      built.push(...compiles.map((c) => c.args[c.args.indexOf('-o') + 1] ?? ''));
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
    await (server as Nginx | undefined)?.stop(); // undefined if it never started
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

  it('--stage convert: only the conversions the remote lacks, found without downloading weights', async () => {
    const b = await Project.create(MANIFEST.replace('quantizations: [q4f16_1]', 'quantizations: [q4f16_1, q0f16]'), MODELS);
    const r = await b.run(['matrix', '--stage', 'convert', '--only-missing'], { MLC_BUILD_REMOTE_CACHE: server.url });
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
    const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Matrix;
    expect(m.include.map((j) => j.build).sort()).toEqual([
      '--all-hosts step=convert model=llama quant=q0f16',
      '--all-hosts step=convert model=qwen quant=q0f16',
    ]);
  });

  it('--stage convert of a hub model: the key from the pins in mlc.build.lock, its weights never downloaded', async () => {
    const hub = new HubServer([
      {
        repo: 'org/tiny',
        refs: { main: 'c'.repeat(40) },
        files: {
          'config.json': Buffer.from(await readFile(join(FIXTURES, 'hf-configs/qwen2_0_5b.json'))),
          'tokenizer.json': Buffer.from('{"model":{"type":"BPE"},"decoder":{"type":"ByteLevel"}}'),
          'model.safetensors': Buffer.alloc(120_000, 7),
        },
      },
    ]);
    const url = await hub.start();
    try {
      const manifest = `version: 1\nmodels:\n  tiny: { source: hf://org/tiny, conv_template: qwen2 }\nquantizations: [q4f16_1]\ntargets: [android]\n`;
      const first = await Project.create(manifest, {});
      const env = (p: Project) => ({ HF_ENDPOINT: url, HF_HUB_CACHE: p.path('hf-cache'), HF_HOME: p.path('hf-home'), MLC_BUILD_REMOTE_CACHE: server.url });
      expect((await first.run([], env(first))).code).toBe(0);
      const next = await Project.create(manifest, {});
      await writeFile(next.path('mlc.build.lock'), await readFile(first.path('mlc.build.lock')));
      hub.requests.length = 0;
      const r = await next.run(['matrix', '--stage', 'convert', '--only-missing'], env(next));
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}')).toEqual({ include: [] });
      expect(hub.requests.filter((q) => q.path.endsWith('/model.safetensors'))).toEqual([]);
    } finally {
      await hub.stop();
    }
  });

  it('needs a remote cache', async () => {
    const r = await a.run(['matrix', '--only-missing'], { MLC_BUILD_REMOTE_CACHE: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--only-missing asks the remote cache');
  });
});

const validator = createRequire(import.meta.url).resolve('@action-validator/cli/cli.mjs');
const validate = (file: string) =>
  promisify(execFile)(process.execPath, [validator, file]).then(
    () => ({ code: 0, stdout: '' }),
    (e: unknown) => e as { code: number; stdout: string },
  );

interface Workflow {
  on: Record<string, unknown>;
  env: Record<string, string>;
  jobs: Record<
    string,
    { needs?: string | string[]; if?: string; 'runs-on': unknown; strategy?: { matrix: unknown }; steps: { run?: string; uses?: string }[] }
  >;
}

describe('ci init', () => {
  it('github: a workflow that action-validator accepts: plan --only-missing, weights, the compile matrix after plan only, release last, read-only for pull requests', async () => {
    const p = await Project.create(MANIFEST + 'ci: { runs_on: { convert: [self-hosted, a100] } }\n', MODELS);
    const r = await p.run(['ci', 'init', 'github']);
    expect(r.code).toBe(0);
    const file = p.path('.github/workflows/mlc-build.yml');
    expect(await validate(file)).toEqual({ code: 0, stdout: '' });
    const w = parse(await readFile(file, 'utf8')) as Workflow;
    const runs = (job: string) => w.jobs[job]?.steps.map((s) => s.run).filter(Boolean);
    expect(runs('plan')).toContain('npx mlc-build matrix --format github --only-missing');
    expect(runs('weights')).toContain('npx mlc-build build --all-hosts step=convert');
    expect(w.jobs.weights?.['runs-on']).toEqual(['self-hosted', 'a100']);
    expect(w.jobs.compile?.needs).toBe('plan');
    expect(w.jobs.compile?.strategy?.matrix).toBe('${{ fromJSON(needs.plan.outputs.matrix) }}');
    expect(w.jobs.compile?.if).toBe("needs.plan.outputs.has_work == 'true'");
    expect(runs('compile')).toContain('npx mlc-build build ${{ matrix.build }}');
    expect(w.jobs.release?.needs).toEqual(['plan', 'weights', 'compile']);
    expect(w.jobs.release?.if).toContain("!contains(needs.*.result, 'failure')");
    expect(runs('release')).toContain('npx mlc-build release');
    expect(Object.keys(w.jobs).at(-1)).toBe('release');
    expect(w.env.MLC_BUILD_REMOTE_CACHE_READ_ONLY).toBe("${{ github.event_name == 'pull_request' && '1' || '' }}");
    expect(Object.keys(w.on)).toContain('pull_request');
    // The validator can fail: a misspelled key.
    const broken = join(await tempDir(), 'broken.yml');
    await writeFile(broken, (await readFile(file, 'utf8')).replace('runs-on: ubuntu-latest', 'runs-onn: ubuntu-latest'));
    expect((await validate(broken)).code).not.toBe(0);
    // Never replaced without --force.
    const again = await p.run(['ci', 'init', 'github']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists; --force replaces it');
    expect((await p.run(['ci', 'init', 'github', '--force'])).code).toBe(0);
  });

  it('gitlab: a pipeline of documented keywords, its compile stage the child pipeline that matrix --format gitlab writes', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['ci', 'init', 'gitlab'])).code).toBe(0);
    const text = await readFile(p.path('.gitlab-ci.yml'), 'utf8');
    expect(gitlabProblems(text)).toEqual([]);
    const doc = parse(text) as Record<string, { script?: string[]; trigger?: { include: { artifact: string; job: string }[] }; needs?: string[] }>;
    expect(doc.plan?.script).toContain('npx mlc-build matrix --format gitlab --only-missing > mlc-build-jobs.yml');
    expect(doc.compile?.trigger?.include).toEqual([{ artifact: 'mlc-build-jobs.yml', job: 'plan' }]);
    expect(doc.release?.needs).toEqual(['weights', 'compile']);
    expect(text).toContain('merge_request_event');
    const child = await p.run(['matrix', '--format', 'gitlab']);
    expect(child.code).toBe(0);
    expect(gitlabProblems(child.stdout)).toEqual([]);
    expect(gitlabProblems('job:\n  scrip: [x]\n')).toEqual(['job: unknown keyword scrip', 'job: needs script, run, trigger or extends']);
  });

  it('webgpu: only the jobs that build webgpu set up emsdk 3.1.56 and the web runtime (MLC_LLM_SOURCE_DIR, prep_emcc_deps.sh); the workflow still validates', async () => {
    const p = await Project.create(MANIFEST + PINNED, MODELS);
    const r = await p.run(['ci', 'init', 'github']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('warning');
    const file = p.path('.github/workflows/mlc-build.yml');
    expect(await validate(file)).toEqual({ code: 0, stdout: '' });
    const steps = (parse(await readFile(file, 'utf8')) as Workflow).jobs.compile?.steps ?? [];
    const web = steps.filter((s) => (s as { if?: string }).if === '${{ matrix.needs_web_runtime }}');
    const script = web.map((s) => s.run ?? '').join('\n');
    expect(script).toContain('emsdk" install 3.1.56');
    expect(script).toContain('emsdk" activate 3.1.56');
    expect(script).toContain('./web/prep_emcc_deps.sh');
    expect(script).toContain('echo "MLC_LLM_SOURCE_DIR=$MLC_LLM_SOURCE_DIR" >> "$GITHUB_ENV"');
    expect(script).toMatch(/git -C "\$MLC_LLM_SOURCE_DIR" checkout "\$MLC_LLM_COMMIT"/);
    // Every other step runs in every job: nothing of the web runtime there.
    expect(
      steps
        .filter((s) => !web.includes(s))
        .map((s) => s.run ?? '')
        .join('\n'),
    ).not.toMatch(/emsdk|prep_emcc_deps|MLC_LLM_SOURCE_DIR/);
    // The matrix says which jobs build webgpu.
    const m = JSON.parse((await p.run(['matrix', '--format', 'json'])).stdout) as { include: { name: string; needs_web_runtime: boolean }[] };
    expect(Object.fromEntries(m.include.map((j) => [j.name, j.needs_web_runtime]))).toEqual({
      'compile android': false,
      'compile opencl': false,
      'compile vulkan-generic': false,
      'compile webgpu': true,
    });
    // GitLab: the child pipeline's webgpu job alone runs the same set-up.
    const child = await p.run(['matrix', '--format', 'gitlab']);
    expect(gitlabProblems(child.stdout)).toEqual([]);
    const jobs = parse(child.stdout) as Record<string, { script: string[]; parallel: { matrix: { MLC_BUILD_ARGS: string[] }[] } }>;
    for (const [name, job] of Object.entries(jobs)) {
      const webgpu = job.parallel.matrix[0]?.MLC_BUILD_ARGS.some((a) => a.includes('webgpu')) ?? false;
      expect(job.script.join('\n').includes('./web/prep_emcc_deps.sh'), name).toBe(webgpu);
      expect(job.script.join('\n').includes('install 3.1.56'), name).toBe(webgpu);
    }
    // No webgpu cell: no web-runtime step at all (and nightly wheels are fine).
    const noWeb = await Project.create(MANIFEST.replace('webgpu, ', '') + 'toolchain: { install: nightly }\n', MODELS);
    expect((await noWeb.run(['ci', 'init', 'github'])).code).toBe(0);
    expect(await readFile(noWeb.path('.github/workflows/mlc-build.yml'), 'utf8')).not.toMatch(/emsdk|prep_emcc_deps|MLC_LLM_SOURCE_DIR|needs_web_runtime/);
  });

  it('warns (exit 0) of an unmanaged toolchain and of absolute paths a runner will not have, naming them', async () => {
    const abs = await tempDir();
    const p = await Project.create(MANIFEST, MODELS);
    const llama = p.path('hf/llama'); // absolute, and there: the manifest loads
    await writeFile(
      p.path('mlc.build.yaml'),
      MANIFEST.replace('./hf/llama', llama) + `toolchain: { mlc_llm: ${join(abs, 'bin/mlc_llm')} }\nout: ${join(abs, 'dist')}\ncache: ${join(abs, 'cache')}\n`,
    );
    const r = await p.run(['ci', 'init', 'gitlab']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: the toolchain is unmanaged');
    expect(r.stderr).toContain('set toolchain.install');
    expect(r.stderr).toContain(`toolchain.mlc_llm: ${join(abs, 'bin/mlc_llm')}`);
    expect(r.stderr).toContain(`models.llama.source: ${llama}`);
    expect(r.stderr).toContain(`out: ${join(abs, 'dist')}`);
    expect(r.stderr).toContain(`cache: ${join(abs, 'cache')}`);
    expect(r.stderr).not.toContain('models.qwen');
    // webgpu cells with an unmanaged toolchain: what every runner that builds them needs.
    expect(r.stderr).toContain(
      "warning: the webgpu cells (target webgpu: qwen/q4f16_1/webgpu, llama/q4f16_1/webgpu) build the web runtime at the mlc-llm commit of the runner's mlc_llm",
    );
    expect(r.stderr).toContain('needs an mlc_llm built from source that records it (pip install git+https://github.com/mlc-ai/mlc-llm@COMMIT');
    // Managed, relative paths: nothing to warn about.
    const clean = await Project.create(MANIFEST.replace('webgpu, ', '') + 'toolchain: { install: nightly }\n', MODELS);
    const quiet = await clean.run(['ci', 'init', 'github']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('warning');
  });

  it('refuses (exit 2, nothing written) webgpu cells whose toolchain.install names no mlc-llm commit: nightly, a branch; its fix, as printed, is accepted', async () => {
    const p = await Project.create(MANIFEST + 'toolchain: { install: nightly }\n', MODELS);
    for (const ci of ['github', 'gitlab']) {
      const r = await p.run(['ci', 'init', ci]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('mlc.build.yaml:7:');
      expect(r.stderr).toContain('the webgpu cells (target webgpu: qwen/q4f16_1/webgpu, llama/q4f16_1/webgpu)');
      expect(r.stderr).toContain("need the web runtime built at the mlc-llm commit of the toolchain's mlc_llm");
      expect(r.stderr).toContain('toolchain.install: nightly does not name one');
      expect(r.stderr).toContain('or remove webgpu from targets');
      expect(r.stderr).not.toContain('wrote');
    }
    expect(existsSync(p.path('.github'))).toBe(false);
    expect(existsSync(p.path('.gitlab-ci.yml'))).toBe(false);
    // A branch is not a commit: the runtime would be of whatever main is when the job runs.
    await writeFile(p.path('mlc.build.yaml'), MANIFEST + 'toolchain: { install: { packages: ["git+https://github.com/mlc-ai/mlc-llm@main"] } }\n');
    const branch = await p.run(['ci', 'init', 'github']);
    expect(branch.code).toBe(2);
    expect(branch.stderr).toContain('git+https://github.com/mlc-ai/mlc-llm@main names main, a branch or tag, not a commit');
    expect(existsSync(p.path('.github'))).toBe(false);
    // The fix as printed, with a commit for COMMIT, is accepted.
    const fix = /Fix: pin mlc_llm at a commit, (toolchain: \{.*\}), or remove/.exec(branch.stderr)?.[1];
    expect(fix).toContain('COMMIT');
    await writeFile(p.path('mlc.build.yaml'), `${MANIFEST}${(fix ?? '').replace('COMMIT', '89abcdef')}\n`);
    const fixed = await p.run(['ci', 'init', 'github']);
    expect(fixed.stderr).not.toContain('warning');
    expect(fixed.code).toBe(0);
    expect(await readFile(p.path('.github/workflows/mlc-build.yml'), 'utf8')).toContain('./web/prep_emcc_deps.sh');
  });

  it("the README's example workflow is the one ci init github writes for the main job", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Release on CI'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    // As the README says: with the toolchain at an mlc-llm commit, which its webgpu cells need.
    const manifest = await readFile(new URL('../../mlc.build.yaml', import.meta.url), 'utf8');
    expect(manifest).toContain('  install: nightly\n');
    const pinned = manifest.replace('  install: nightly\n', '  install: { packages: ["git+https://github.com/mlc-ai/mlc-llm@0123abcd"] }\n');
    const dir = await tempProject({ 'mlc.build.yaml': pinned });
    const r = await run(['ci', 'init', 'github'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(example).toBe(await readFile(join(dir, '.github/workflows/mlc-build.yml'), 'utf8'));
  });
});
