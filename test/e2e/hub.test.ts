// hf:// sources end to end: the real CLI against a local hub server, the mlc_llm double as toolchain.
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/cli.js';
import { HubServer, type HubRepo } from '../helpers/hub-server.js';
import { Project } from '../helpers/project.js';

const COMMIT = 'a'.repeat(40);
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function tinyRepo(extra: Partial<HubRepo> = {}): HubRepo {
  return {
    repo: 'org/tiny-llama',
    refs: { main: COMMIT },
    files: {
      'config.json': Buffer.from(readFileSync(join(FIXTURES, 'hf-configs/llama2_7b.json'))),
      'generation_config.json': Buffer.from('{"temperature": 0.6}'),
      'tokenizer.json': Buffer.from('{"model":{"type":"BPE"},"decoder":{"type":"ByteLevel"}}'),
      'model-00001-of-00002.safetensors': bytes(150_000, 1),
      'model-00002-of-00002.safetensors': bytes(90_000, 2),
      'model.safetensors.index.json': Buffer.from(
        JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
      ),
      'model-draft.safetensors': bytes(5_000, 3), // not in the index: not needed
      'pytorch_model.bin': bytes(60_000, 4), // a second format: skipped
      'original/consolidated.pth': bytes(4_000, 5),
      'model.onnx': bytes(3_000, 6),
      'README.md': Buffer.from('# tiny'),
    },
    ...extra,
  };
}

const MANIFEST = `version: 1
models:
  Tiny: { source: hf://org/tiny-llama, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [cuda]
`;

let server: HubServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setup(repo: HubRepo = tinyRepo()): Promise<{ p: Project; env: Record<string, string> }> {
  server = new HubServer([repo]);
  const url = await server.start();
  const p = await Project.create(MANIFEST, {});
  return { p, env: { HF_ENDPOINT: url, HF_HUB_CACHE: p.path('hf-cache'), HF_HOME: p.path('hf-home') } };
}

const resolves = (s: HubServer) => s.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path.replace(/^.*\/resolve\/[^/]+\//, ''));

describe('hf:// sources', () => {
  it('downloads only what the steps read, once, into the HF cache; pins the commit; then builds offline', async () => {
    const { p, env } = await setup();
    const first = await p.run([], env);
    expect(first.stderr).toMatch(/mlc-build: \d+ ran/);
    expect(first.code).toBe(0);
    expect(resolves(server as HubServer).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
    ]);
    const lock = JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as {
      sources: Record<string, { kind: string; revision: string; commit: string; files: Record<string, string> }>;
    };
    expect(lock.sources['hf://org/tiny-llama']).toMatchObject({ kind: 'hf', revision: 'main', commit: COMMIT });
    expect(lock.sources['hf://org/tiny-llama']?.files['model-00002-of-00002.safetensors']).toBe(`sha256:${sha256(bytes(90_000, 2))}`);
    // The standard HF cache layout, usable by Python tools.
    const repoDir = p.path('hf-cache/models--org--tiny-llama');
    expect((await readFile(join(repoDir, 'refs/main'), 'utf8')).trim()).toBe(COMMIT);
    expect(await readFile(join(repoDir, 'snapshots', COMMIT, 'model-00002-of-00002.safetensors'))).toEqual(bytes(90_000, 2));
    expect(await readdir(join(repoDir, 'blobs'))).toContain(sha256(bytes(90_000, 2)));
    // The seed's layout: dist/models/<model>/, read by the steps' commands.
    expect((await readdir(p.path('dist/models/Tiny'))).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
    ]);
    // Pinned and cached: not a single request.
    (server as HubServer).requests.length = 0;
    await rm(p.path('dist/libs'), { recursive: true, force: true });
    const again = await p.run(['build', '-j', '2'], env);
    expect(again.code).toBe(0);
    expect((server as HubServer).requests).toEqual([]);
  });

  it('resumes a download cut mid-file instead of starting over', async () => {
    const { p, env } = await setup();
    (server as HubServer).faults.set('model-00001-of-00002.safetensors', 'reset-once');
    const r = await p.run(['step=download'], env);
    expect(r.code).toBe(0);
    // The server sent half (75,000 bytes) before the cut; how much of it the client had written when
    // the connection died depends on timing (under load, less). Resuming means: a Range request from
    // what it had (more than 0), and fewer bytes in all than starting over would cost.
    const sent = (server as HubServer).bytesSent('model-00001-of-00002.safetensors');
    expect(sent).toBeGreaterThanOrEqual(150_000);
    expect(sent).toBeLessThan(150_000 + 75_000);
    const resumed = (server as HubServer).requests
      .filter((q) => q.path.endsWith('model-00001-of-00002.safetensors') && q.range !== undefined)
      .map((q) => Number(/^bytes=(\d+)-$/.exec(q.range ?? '')?.[1]));
    expect(resumed.length).toBe(1);
    expect(resumed[0]).toBeGreaterThan(0);
    expect(resumed[0]).toBeLessThanOrEqual(75_000);
  });

  it('retries a 500 and a corrupted transfer, and refuses bytes that never match their oid', async () => {
    const { p, env } = await setup();
    (server as HubServer).faults.set('config.json', '500-once');
    (server as HubServer).faults.set('model-00002-of-00002.safetensors', 'corrupt-once');
    expect((await p.run(['step=download'], env)).code).toBe(0);

    const bad = await setup();
    (server as HubServer).faults.set('model-00002-of-00002.safetensors', 'corrupt-always');
    const r = await bad.p.run(['step=download', '-k'], bad.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'FAILED  download:Tiny/weights: downloading model-00002-of-00002.safetensors from org/tiny-llama: the bytes do not match the oid',
    );
    const snapshot = bad.p.path('hf-cache/models--org--tiny-llama/snapshots', COMMIT);
    expect(await readdir(snapshot).catch(() => [])).not.toContain('model-00002-of-00002.safetensors');
  });

  it('uses an HF cache a Python tool already filled: no file downloads', async () => {
    const { p, env } = await setup();
    const repoDir = p.path('hf-cache/models--org--tiny-llama');
    const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
    await mkdir(join(repoDir, 'blobs'), { recursive: true });
    await mkdir(join(repoDir, 'snapshots', COMMIT), { recursive: true });
    for (const [name, b] of Object.entries(tinyRepo().files)) {
      if (name.includes('/')) continue;
      const oid = b.length > 1024 ? sha256(b) : gitOid(b);
      await writeFile(join(repoDir, 'blobs', oid), b);
      await symlink(`../../blobs/${oid}`, join(repoDir, 'snapshots', COMMIT, name));
    }
    const r = await p.run([], env);
    expect(r.code).toBe(0);
    expect(resolves(server as HubServer)).toEqual([]);
  });

  it('gated repositories: says what to do; a token of any form works and is written nowhere', async () => {
    const token = 'secret-token-4711';
    const { p, env } = await setup(tinyRepo({ token }));
    const denied = await p.run(['step=config'], env);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      'HTTP 401: org/tiny-llama is gated or private: accept the license at https://huggingface.co/org/tiny-llama and set HF_TOKEN',
    );
    await mkdir(p.path('hf-home'), { recursive: true });
    await writeFile(p.path('hf-home/token'), `${token}\n`); // as `huggingface-cli login` leaves it
    const allowed = await p.run([], env);
    expect(allowed.code).toBe(0);
    const { spawnSync } = await import('node:child_process');
    const grep = spawnSync('grep', ['-rl', token, 'dist', '.mlc-build', 'mlc.build.lock', 'calls.log', 'hf-cache'], { cwd: p.dir, encoding: 'utf8' });
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1); // grep: no match anywhere
  });

  it('refuses a repository that lists a path outside itself', async () => {
    const { p, env } = await setup(tinyRepo({ extraListed: ['../../escape.txt'] }));
    const r = await p.run(['step=download', '-k'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the repository lists a file path that leaves it: "../../escape.txt"; refused');
    // Where "../../escape.txt" would land: beside the snapshot folders in the HF cache, and in out/
    // (from out/models/Tiny/); and anywhere else in the project, or beside it.
    const { stat } = await import('node:fs/promises');
    await expect(stat(p.path('hf-cache/models--org--tiny-llama/escape.txt'))).rejects.toThrow();
    await expect(stat(p.path('dist/escape.txt'))).rejects.toThrow();
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('find', [p.dir, '-name', 'escape.txt'], { encoding: 'utf8' }).stdout).toBe('');
    await expect(stat(join(p.dir, '..', 'escape.txt'))).rejects.toThrow();
  });

  it('download.include and .exclude adjust the selection (and the lock follows)', async () => {
    const { p, env } = await setup();
    await p.editManifest((y) =>
      y.replace('conv_template: llama-2 }', 'conv_template: llama-2, download: { include: ["README.md"], exclude: ["generation_config.json"] } }'),
    );
    const r = await p.run(['step=download'], env);
    expect(r.code).toBe(0);
    const fetched = resolves(server as HubServer);
    expect(fetched).toContain('README.md');
    expect(fetched).not.toContain('generation_config.json');
    const lock = JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as { sources: Record<string, { files: Record<string, string> }> };
    expect(Object.keys(lock.sources['hf://org/tiny-llama']?.files ?? {})).toContain('README.md');
  });

  it('reports download progress as NDJSON events', async () => {
    const repo = tinyRepo();
    repo.files['model-00001-of-00002.safetensors'] = bytes(3 * 1024 * 1024, 1);
    const { p, env } = await setup(repo);
    (server as HubServer).faults.set('model-00001-of-00002.safetensors', 'slow');
    const r = await p.run(['--json', 'step=download'], env);
    expect(r.code).toBe(0);
    const progress = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; node?: string; bytes?: number; total?: number; rate?: number })
      .filter((e) => e.event === 'progress' && e.node === 'download:Tiny/weights');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)?.bytes).toBe(progress.at(-1)?.total);
    expect(progress.every((e) => typeof e.rate === 'number' && e.rate > 0)).toBe(true);
    expect(progress.every((e, i) => i === 0 || (e.bytes as number) >= (progress[i - 1]?.bytes as number))).toBe(true);
  });

  it('says when a repository or revision does not exist', async () => {
    const { p, env } = await setup();
    await p.editManifest((y) => y.replace('hf://org/tiny-llama', 'hf://org/tiny-llama@v9'));
    const r = await p.run(['step=download', '-k'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('resolving org/tiny-llama@v9: HTTP 404: repository or revision not found: org/tiny-llama');
  });
});

describe('hub tokens', () => {
  const token = 'secret-token-0815';
  const cases: [string, (p: Project) => Promise<{ args: string[]; env: Record<string, string> }>][] = [
    ['HF_TOKEN', () => Promise.resolve({ args: [], env: { HF_TOKEN: token } })],
    ['HUGGING_FACE_HUB_TOKEN', () => Promise.resolve({ args: [], env: { HUGGING_FACE_HUB_TOKEN: token } })],
    [
      '--token-file',
      async (p) => {
        await writeFile(p.path('my-token'), `${token}\n`);
        return { args: ['--token-file', p.path('my-token')], env: {} };
      },
    ],
  ];
  for (const [name, how] of cases) {
    it(`${name} is sent to the hub and never reaches mlc_llm's environment`, async () => {
      const { p, env } = await setup(tinyRepo({ token }));
      const { args, env: extra } = await how(p);
      const dump = p.path('step-env.ndjson');
      const r = await p.run(args, { ...env, ...extra, MLC_DOUBLE_ENV_DUMP: dump });
      expect(r.code).toBe(0);
      expect((server as HubServer).requests.filter((q) => q.path.includes('/resolve/')).every((q) => q.auth === `Bearer ${token}`)).toBe(true);
      const steps = (await readFile(dump, 'utf8')).trim().split('\n');
      expect(steps.length).toBe(r.calls.length);
      expect(steps.length).toBeGreaterThan(0);
      for (const line of steps) expect(line).not.toContain(token);
    });
  }
});

describe('build --update', () => {
  it('re-resolves a revision that moved, re-pins it and rebuilds what the new files change', async () => {
    const repo = tinyRepo();
    const { p, env } = await setup(repo);
    expect((await p.run([], env)).code).toBe(0);
    const lockOf = async () =>
      (JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as { sources: Record<string, { commit: string; files: Record<string, string> }> }).sources[
        'hf://org/tiny-llama'
      ];
    expect((await lockOf())?.commit).toBe(COMMIT);
    // The branch moves: a new commit with another generation config.
    const moved = 'b'.repeat(40);
    repo.refs.main = moved;
    repo.files['generation_config.json'] = Buffer.from('{"temperature": 0.1}');
    const pinned = await p.run([], env);
    expect(pinned.code).toBe(0);
    expect(pinned.calls).toEqual([]); // pinned: the move is not seen without --update
    const updated = await p.run(['build', '--update'], env);
    expect(updated.code).toBe(0);
    expect((await lockOf())?.commit).toBe(moved);
    expect((await lockOf())?.files['generation_config.json']).toBe(`sha256:${sha256(Buffer.from('{"temperature": 0.1}'))}`);
    expect(updated.calls.map((c) => c.sub)).toEqual(['gen_config']);
    expect(JSON.parse(await readFile(p.path('dist/Tiny-q4f16_1-MLC/mlc-chat-config.json'), 'utf8'))).toMatchObject({ temperature: 0.1 });
  });
});
