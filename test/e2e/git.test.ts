// git+ sources end to end: a real repository with LFS-tracked weights, used through file://.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';
import { lacks } from '../helpers/tools.js';

const hasLfs = (() => {
  try {
    execFileSync('git', ['lfs', 'version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const weights = Buffer.from(Array.from({ length: 120_000 }, (_, i) => (i * 13) & 0xff));

async function makeRepo(dir: string, edit?: (dir: string) => Promise<void>): Promise<string> {
  const g = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, stdio: 'pipe' });
  await mkdir(dir, { recursive: true });
  g('init', '-q');
  g('lfs', 'install', '--local');
  g('lfs', 'track', '*.safetensors');
  await writeFile(join(dir, 'config.json'), readFileSync(join(FIXTURES, 'hf-configs/mistral_7b.json')));
  await writeFile(join(dir, 'tokenizer.json'), '{"model":{"type":"BPE"}}');
  await writeFile(join(dir, 'model.safetensors'), weights);
  await writeFile(join(dir, 'pytorch_model.bin'), Buffer.alloc(5000, 7)); // a second format: skipped
  await edit?.(dir);
  g('add', '-A');
  g('commit', '-q', '-m', 'model');
  return g('rev-parse', 'HEAD').toString().trim();
}

const manifest = (url: string) => `version: 1
models:
  M: { source: "git+${url}#main", conv_template: mistral_default }
quantizations: [q4f16_1]
targets: [android]
`;

describe.skipIf(lacks('git-lfs', hasLfs))('git+ sources (git and git-lfs)', () => {
  it('fetches the pinned commit shallowly, pulls only the LFS objects it needs, pins it, then works without the remote', async () => {
    const p = await Project.create('version: 1\nmodels: {}\nquantizations: [q4f16_1]\ntargets: [cuda]\n', {});
    const origin = p.path('origin');
    const commit = await makeRepo(origin);
    await writeFile(p.path('mlc.build.yaml'), manifest(`file://${origin}`));
    const r = await p.run();
    expect(r.stderr).toMatch(/mlc-build: \d+ ran/);
    expect(r.code).toBe(0);
    const lock = JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as {
      sources: Record<string, { kind: string; commit: string; revision: string; files: Record<string, string> }>;
    };
    expect(lock.sources[`git+file://${origin}#main`]).toMatchObject({ kind: 'git', commit, revision: 'main' });
    expect(Object.keys(lock.sources[`git+file://${origin}#main`]?.files ?? {}).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(await readFile(p.path('dist/models/M/model.safetensors'))).toEqual(weights); // the content, not a pointer
    expect((await readdir(p.path('dist/models/M'))).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(await readdir(p.path('dist/M-q4f16_1-MLC'))).toContain('params_shard_0.bin');
    // Pinned and fetched: the remote can go away.
    await rm(origin, { recursive: true, force: true });
    await rm(p.path('dist'), { recursive: true, force: true });
    const again = await p.run();
    expect(again.code).toBe(0);
    expect(again.calls).toEqual([]);
    expect(await readFile(p.path('dist/models/M/model.safetensors'))).toEqual(weights);
  });

  it('refuses a weight file that is still an LFS pointer', async () => {
    const p = await Project.create('version: 1\nmodels: {}\nquantizations: [q4f16_1]\ntargets: [cuda]\n', {});
    const origin = p.path('origin');
    await makeRepo(origin);
    await rm(join(origin, '.git/lfs/objects'), { recursive: true, force: true }); // the object is gone
    await writeFile(p.path('mlc.build.yaml'), manifest(`file://${origin}`));
    const r = await p.run(['step=download', '-k']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED {2}download:M\/weights: .*(LFS|lfs)/);
  });

  it('refuses a symlink that points outside the repository', async () => {
    const p = await Project.create('version: 1\nmodels: {}\nquantizations: [q4f16_1]\ntargets: [cuda]\n', {});
    const origin = p.path('origin');
    await makeRepo(origin, async (dir) => {
      await rm(join(dir, 'tokenizer.json'));
      await symlink('../../../etc/passwd', join(dir, 'tokenizer.json'));
    });
    await writeFile(p.path('mlc.build.yaml'), manifest(`file://${origin}`));
    const r = await p.run(['step=download', '-k']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tokenizer.json is a symlink to "../../../etc/passwd", outside the repository; refused');
  });
});
