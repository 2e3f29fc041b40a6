// Habits users bring from make and ninja: -q, glob selectors, clean --dry-run, help that shows the
// global options, aligned columns, paths shown as written.
import { access, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, tempDir, TEMP_DIRS } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [cuda, vulkan, metal]
`;
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const } };

describe('make and ninja habits', () => {
  it('build -q runs nothing and prints nothing on stdout: exit 1 while something would run, 0 once up to date', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const before = await p.run(['build', '-q']);
    expect(before).toMatchObject({ code: 1, stdout: '', calls: [] });
    await access(p.path('dist')).then(
      () => expect.fail('-q made out/'),
      () => undefined,
    );
    expect((await p.run()).code).toBe(0);
    expect(await p.run(['build', '-q'])).toMatchObject({ code: 0, stdout: '', calls: [] });
    await writeFile(p.path('hf/a/tokenizer_config.json'), JSON.stringify({ model_max_length: 4096 }));
    expect(await p.run(['build', '--question'])).toMatchObject({ code: 1, stdout: '', calls: [] });
  });

  it("glob selectors pick what they match (target='cu*', model='A*'); one that matches nothing is a usage error", async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const plan = await p.run(['plan', '--json', 'target=cu*']);
    expect(plan.code, plan.stderr).toBe(0);
    const compiles = (JSON.parse(plan.stdout) as { nodes: { id: string; kind: string }[] }).nodes.filter((n) => n.kind === 'compile').map((n) => n.id);
    expect(compiles).toEqual(['compile:A/q4f16_1/cuda']);
    const both = await p.run(['plan', '--json', 'target=*an', 'model=A*']);
    expect((JSON.parse(both.stdout) as { nodes: { kind: string }[] }).nodes.filter((n) => n.kind === 'compile')).toHaveLength(1); // vulkan
    const none = await p.run(['plan', 'model=Z*']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('model=Z* matches nothing in the matrix');
  });

  it('clean --dry-run lists what clean would remove and removes nothing', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run()).code).toBe(0);
    const dry = await p.run(['clean', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dist/libs/A-q4f16_1-cuda.so\n');
    expect(dry.stderr).toMatch(/would remove \d+ files from dist; nothing removed/);
    await access(p.path('dist/libs/A-q4f16_1-cuda.so'));
    expect((await p.run(['clean'])).code).toBe(0);
    await expect(access(p.path('dist/libs/A-q4f16_1-cuda.so'))).rejects.toThrow(/ENOENT/);
  });

  it("every subcommand's --help shows the global options; matrix --help lists only the selectors matrix takes", async () => {
    const dir = await tempDir();
    for (const cmd of ['build', 'plan', 'status', 'watch', 'matrix', 'release', 'explain', 'clean', 'gc', 'doctor', 'init', 'graph']) {
      const r = await run([cmd, '--help'], { cwd: dir });
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain('--all-hosts');
      expect(r.stdout, cmd).toContain('--remote-cache <url>');
    }
    const matrix = await run(['matrix', '--help'], { cwd: dir });
    expect(matrix.stdout).toContain('target=T[,T]');
    expect(matrix.stdout).not.toContain('step=');
    expect(matrix.stdout).not.toContain('NODE_ID');
    expect((await run(['build', '--help'], { cwd: dir })).stdout).toContain('step=KIND');
  });

  it('without a manifest, the error says how to make one', async () => {
    const dir = await tempDir();
    const r = await run(['plan'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('run mlc-build init to write one');
  });

  it('plan and status keep their columns aligned when a step is unavailable here', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    for (const cmd of ['plan', 'status']) {
      const r = await p.run([cmd], { MLC_BUILD_ALL_HOSTS: '' });
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^ *(fresh|cached|stale|missing|unavailable) /.test(l));
      expect(
        rows.some((l) => l.includes('unavailable')),
        cmd,
      ).toBe(process.platform === 'linux');
      const columns = new Set(rows.map((l) => /^ *\S+ +/.exec(l)?.[0].length));
      expect(columns.size, `${cmd}:\n${rows.join('\n')}`).toBe(1);
    }
  });

  it('an absolute out: outside the project is shown absolute, not as ../..', async () => {
    const out = await mkdtemp(join(tmpdir(), 'mlc-build-abs-out-'));
    TEMP_DIRS.push(out);
    const p = await Project.create(MANIFEST.replace('version: 1\n', `version: 1\nout: ${out}\n`), MODELS);
    const r = await p.run(['plan', '--commands']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${out}/libs/A-q4f16_1-cuda.so`);
    expect(r.stdout).not.toMatch(/\.\.\/\.\.\//);
  });
});
