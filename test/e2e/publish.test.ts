// `mlc-build publish` end to end: the real CLI and the real @huggingface/hub client against a local
// hub server (test/helpers/hub-server.ts), the mlc_llm double as toolchain. Assertions are on the
// server's state (commits, files, objects) and its request log.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { HubServer } from '../helpers/hub-server.js';
import { Project } from '../helpers/project.js';
import { typecheckAppConfig } from '../helpers/web-llm.js';

const TOKEN = 'hf_publish-secret-4711';
const MANIFEST = `version: 1
models:
  qwen: { source: ./hf/qwen, conv_template: qwen2 }
  llama: { source: ./hf/llama, conv_template: llama-3 }
quantizations: [q4f16_1]
targets: [webgpu, iphone]
publish:
  hub: { org: org, libs_repo: mlc-libs }
`;
const MODELS = { qwen: { preset: 'qwen2_0_5b', weights: 'safetensors' }, llama: { preset: 'llama3_2_1b', weights: 'safetensors' } } as const;
const WEIGHTS = ['org/llama-q4f16_1-MLC', 'org/llama-q4f16_1-ctx768-MLC', 'org/qwen-q4f16_1-MLC', 'org/qwen-q4f16_1-ctx768-MLC'];
const LIBS = 'org/mlc-libs';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let server: HubServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setup(manifest = MANIFEST): Promise<{ p: Project; hub: HubServer; env: Record<string, string> }> {
  const hub = new HubServer([], { token: TOKEN, orgs: ['org'] });
  server = hub;
  const url = await hub.start();
  const p = await Project.create(manifest, MODELS);
  return { p, hub, env: { HF_ENDPOINT: url, HF_TOKEN: TOKEN, HF_HOME: p.path('hf-home') } };
}

const puts = (hub: HubServer) => hub.requests.filter((r) => r.method === 'PUT');
const commits = (hub: HubServer) => hub.commitLog.filter((c) => c.status === 200);

/** Every file under `dir`, by path relative to it. */
async function filesUnder(dir: string, base = dir): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of await filesUnder(p, base)) out.set(k, v);
    else out.set(p.slice(base.length + 1), await readFile(p));
  }
  return out;
}

/** A file of a repository at a revision, through the resolve endpoint (as a browser or web-llm reads it). */
async function resolved(hub: HubServer, url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url.startsWith('http') ? url : `${hub.url}/${url}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

function runKilled(p: Project, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: p.dir, env: { ...process.env, ...p.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code, signal) => r(signal === 'SIGKILL' ? -9 : code)));
  return { child, exited, output: () => output };
}

interface JsonReport {
  repos: {
    repo: string;
    role: string;
    url: string;
    status: string;
    commit: string | null;
    pinned: string | null;
    uploaded: { files: number; bytes: number };
    skipped: number;
  }[];
}

describe('publish', () => {
  it('puts each weights folder in its own repository and the libraries in the libs repository, byte for byte; a second publish sends nothing', async () => {
    const { p, hub, env } = await setup();
    const r = await p.run(['publish', '--json'], env);
    expect(r.stderr).not.toContain('publish:');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.repos.map((x) => `${x.repo} ${x.role} ${x.status}`)).toEqual([
      ...WEIGHTS.map((w) => `${w} weights created`),
      `${LIBS} libraries created`,
      `${LIBS} configs committed`,
    ]);
    // Each weights repository holds its folder of the release, byte for byte, at the reported commit, read through resolve.
    for (const repo of WEIGHTS) {
      const entry = report.repos.find((x) => x.repo === repo);
      const local = await filesUnder(p.path('release', repo.slice('org/'.length)));
      expect(entry?.url).toBe(`${hub.url}/${repo}`);
      expect(Object.keys(hub.filesAt(repo, entry?.commit ?? '') ?? {}).sort()).toEqual(['.gitattributes', ...local.keys()].sort());
      for (const [path, bytes] of local) expect((await resolved(hub, `${repo}/resolve/${entry?.commit ?? ''}/${path}`)).body.equals(bytes)).toBe(true);
    }
    // The libraries as in binary-mlc-llm-libs: wasm under web-llm/, the rest under their model.
    const libsCommit = report.repos.find((x) => x.role === 'libraries')?.commit ?? '';
    const libs = hub.filesAt(LIBS, libsCommit) ?? {};
    expect(Object.keys(libs).sort()).toEqual(
      [
        '.gitattributes',
        'llama/llama-q4f16_1-iphone.tar',
        'qwen/qwen-q4f16_1-iphone.tar',
        'web-llm/llama-q4f16_1-webgpu.wasm',
        'web-llm/qwen-q4f16_1-webgpu.wasm',
      ].sort(),
    );
    for (const [path, bytes] of Object.entries(libs))
      if (path !== '.gitattributes') expect(bytes.equals(await readFile(p.path('release/libs', path.split('/')[1] ?? '')))).toBe(true);
    // The configs: a second commit on top of the libraries; the release folder holds the same pinned app config.
    const configs = hub.filesAt(LIBS) ?? {};
    expect(Object.keys(configs)).toEqual(
      expect.arrayContaining(['release.json', 'SHA256SUMS', 'web-llm/app-config.json', 'mlc-package/iphone/mlc-package-config.json']),
    );
    expect(configs['web-llm/app-config.json']?.toString()).toBe(await readFile(p.path('release/web-llm/app-config.json'), 'utf8'));
    const published = JSON.parse(configs['release.json']?.toString() ?? '{}') as { published?: { repos: Record<string, string> } };
    expect(published.published?.repos[LIBS]).toBe(libsCommit);
    // Every commit named the head it was computed against; uploads carried no token to storage.
    expect(hub.commitLog.every((c) => c.status === 200 && /^[0-9a-f]{40}$/.test(c.parent ?? ''))).toBe(true);
    expect(puts(hub).length).toBeGreaterThan(0);
    expect(puts(hub).every((q) => q.auth === undefined && q.status === 200)).toBe(true);
    expect(`${r.stdout}${r.stderr}`).not.toContain(TOKEN);
    // The store records each repository's commit by content.
    expect((await readdir(p.path('.mlc-build/published'))).length).toBeGreaterThan(0);

    // Again, nothing changed: no upload, no commit, no preupload; every repository up to date.
    hub.requests.length = 0;
    hub.commitLog.length = 0;
    const again = await p.run(['publish'], env);
    expect(again.code).toBe(0);
    expect(puts(hub)).toEqual([]);
    expect(hub.commitLog).toEqual([]);
    expect(hub.requests.filter((q) => q.method === 'POST' && !q.path.includes('/paths-info/'))).toEqual([]);
    expect(again.stdout.trim().split('\n')).toHaveLength(WEIGHTS.length + 2);
    expect(again.stdout).not.toMatch(/committed|created/);
    expect(again.stdout).toMatch(/org\/mlc-libs: up to date at [0-9a-f]{12}; pinned at [0-9a-f]{12}/);
    console.log(
      `second publish: ${hub.requests.length} requests (${hub.requests.map((q) => `${q.method} ${q.path.replace(/\/[0-9a-f]{40}/, '/<sha>')}`).join(', ')})`,
    );

    // Another machine (no record in its store) reads the pins from the hub: still nothing to commit.
    await rm(p.path('.mlc-build/published'), { recursive: true });
    const elsewhere = await p.run(['publish'], env);
    expect(elsewhere.code).toBe(0);
    expect(hub.commitLog).toEqual([]);
    expect(puts(hub)).toEqual([]);
  });

  it("one model's weights changed: a commit in that model's repositories and the libs repository only, sending only the changed objects", async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['publish'], env)).code).toBe(0);
    const before = new Map(WEIGHTS.map((w) => [w, hub.repo(w)?.refs.main]));
    const objects = new Map([...WEIGHTS, LIBS].map((w) => [w, new Set(hub.repo(w)?.objects?.keys())]));
    hub.commitLog.length = 0;
    hub.requests.length = 0;
    const weights = Buffer.from(await readFile(p.path('hf/qwen/model.safetensors')));
    weights[10] = (weights[10] ?? 0) ^ 0xff;
    await writeFile(p.path('hf/qwen/model.safetensors'), weights);
    const r = await p.run(['publish'], env);
    expect(r.code).toBe(0);
    expect([...new Set(commits(hub).map((c) => c.repo))].sort()).toEqual([LIBS, 'org/qwen-q4f16_1-MLC', 'org/qwen-q4f16_1-ctx768-MLC']);
    expect(commits(hub).filter((c) => c.repo === LIBS)).toHaveLength(1); // the configs; the libraries did not change
    for (const w of WEIGHTS.filter((x) => x.startsWith('org/llama'))) expect(hub.repo(w)?.refs.main).toBe(before.get(w));
    // Only objects the repository did not have went up.
    for (const q of puts(hub)) {
      const [, repo = '', oid = ''] = /^\/lfs-upload\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(q.path) ?? [];
      expect(objects.get(repo)?.has(oid)).toBe(false);
    }
    // The new app config names the new commits of the changed repositories, and the old ones of the rest.
    const app = JSON.parse(hub.filesAt(LIBS)?.['web-llm/app-config.json']?.toString() ?? '{}') as { model_list: { model: string }[] };
    expect(app.model_list.map((m) => m.model).sort()).toEqual(
      [
        `${hub.url}/org/llama-q4f16_1-MLC/resolve/${before.get('org/llama-q4f16_1-MLC') ?? ''}/`,
        `${hub.url}/org/qwen-q4f16_1-MLC/resolve/${hub.repo('org/qwen-q4f16_1-MLC')?.refs.main ?? ''}/`,
      ].sort(),
    );
  });

  it('the branch moved between read and commit: read again and retried once; moved again: exit 1 naming both revisions', async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['publish'], env)).code).toBe(0);
    const repo = 'org/qwen-q4f16_1-MLC';
    const change = async (byte: number) => {
      const weights = Buffer.from(await readFile(p.path('hf/qwen/model.safetensors')));
      weights[byte] = (weights[byte] ?? 0) ^ 0xff;
      await writeFile(p.path('hf/qwen/model.safetensors'), weights);
    };
    await change(10);
    hub.commitLog.length = 0;
    hub.moveBeforeCommit.set(repo, 1);
    const once = await p.run(['publish'], env);
    expect(once.stderr).not.toContain('publish:');
    expect(once.code).toBe(0);
    const mine = hub.commitLog.filter((c) => c.repo === repo);
    expect(mine.map((c) => c.status)).toEqual([412, 200]);
    expect(mine[1]?.parent).not.toBe(mine[0]?.parent); // computed again against the moved head
    // The other writer's file is not the release's: the retried commit deletes it.
    const foreign = Object.keys(hub.filesAt(repo, mine[1]?.parent ?? '') ?? {}).filter((f) => f.startsWith('foreign-'));
    expect(foreign).toHaveLength(1);
    expect(mine[1]?.deleted).toEqual(foreign);

    await change(11);
    hub.commitLog.length = 0;
    hub.moveBeforeCommit.set(repo, 2);
    const twice = await p.run(['publish'], env);
    expect(twice.code).toBe(1);
    const tried = hub.commitLog.filter((c) => c.repo === repo);
    expect(tried.map((c) => c.status)).toEqual([412, 412]);
    const read = tried[1]?.parent ?? '';
    const found = hub.repo(repo)?.refs.main ?? '';
    expect(twice.stderr).toContain(`mlc-build: publish: ${repo}: main moved twice while publishing (read ${read}, then found ${found})`);
    expect(commits(hub).filter((c) => c.repo === repo)).toEqual([]);
  });

  it('kill -9 mid-upload, publish again: objects the server already received are not sent again', async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['release'], env)).code).toBe(0);
    const folder = p.path('release/qwen-q4f16_1-MLC');
    const lfs = [...(await filesUnder(folder)).entries()].filter(([, b]) => b.length > 1024).sort(([a], [b]) => (a < b ? -1 : 1));
    expect(lfs.length).toBeGreaterThanOrEqual(2);
    const stalled = sha256(lfs[0]?.[1] ?? '');
    hub.uploadFaults.set(stalled, 'stall');
    const repo = 'org/qwen-q4f16_1-MLC';
    const run = runKilled(p, ['publish'], env);
    // Once every other object of the repository is in, the uploader dies holding the last one.
    for (let i = 0; i < 600 && (hub.repo(repo)?.objects?.size ?? 0) < lfs.length - 1; i++) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGKILL');
    expect(await run.exited).toBe(-9);
    const received = new Set(hub.repo(repo)?.objects?.keys());
    expect(received.size).toBe(lfs.length - 1);
    expect(commits(hub).filter((c) => c.repo === repo)).toEqual([]);

    hub.uploadFaults.clear();
    hub.requests.length = 0;
    const again = await p.run(['publish'], env);
    expect(again.code).toBe(0);
    const sent = puts(hub)
      .filter((q) => q.path.startsWith(`/lfs-upload/${repo}/`))
      .map((q) => q.path.split('/').pop() ?? '');
    expect(sent.filter((oid) => received.has(oid))).toEqual([]);
    expect(sent).toContain(stalled);
    expect(Object.keys(hub.filesAt(repo) ?? {})).toEqual(expect.arrayContaining(lfs.map(([path]) => path)));
  }, 90_000);

  it('an upload answered 500, then 429 with Retry-After, is sent again and the publish succeeds; a refused token: exit 1 naming its source, never its value', async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['release'], env)).code).toBe(0);
    const shard = (await filesUnder(p.path('release/llama-q4f16_1-MLC'))).get('params_shard_0.bin') ?? Buffer.alloc(0);
    const oid = sha256(shard);
    hub.uploadFaults.set(oid, '500-once');
    const other = sha256((await filesUnder(p.path('release/qwen-q4f16_1-MLC'))).get('params_shard_0.bin') ?? Buffer.alloc(0));
    hub.uploadFaults.set(other, '429-once');
    const r = await p.run(['publish'], env);
    expect(r.stderr).not.toContain('publish:');
    expect(r.code).toBe(0);
    expect(
      puts(hub)
        .filter((q) => q.path === `/lfs-upload/org/llama-q4f16_1-MLC/${oid}`)
        .map((q) => q.status),
    ).toEqual([500, 200]);
    expect(
      puts(hub)
        .filter((q) => q.path === `/lfs-upload/org/qwen-q4f16_1-MLC/${other}`)
        .map((q) => q.status),
    ).toEqual([429, 200]);

    const wrong = 'hf_wrong-token-0815';
    for (const how of [
      { args: [], env: { HF_TOKEN: wrong }, source: 'HF_TOKEN' },
      { args: ['--token-file', p.path('my-token')], env: { HF_TOKEN: '' }, source: `--token-file ${p.path('my-token')}` },
    ]) {
      await writeFile(p.path('my-token'), `${wrong}\n`);
      hub.requests.length = 0;
      const refused = await p.run([...how.args, 'publish'], { ...env, ...how.env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`checking the token (whoami): HTTP 401: the hub refused the token from ${how.source}`);
      expect(`${refused.stdout}${refused.stderr}`).not.toContain(wrong);
      expect(`${refused.stdout}${refused.stderr}`).not.toContain(TOKEN);
      expect(hub.requests.filter((q) => q.method !== 'GET')).toEqual([]); // refused before anything is sent
    }
  });

  it('--dry-run: says what would be created, uploaded and deleted; creates no repository, sends no object, commits nothing', async () => {
    const { p, hub, env } = await setup();
    const dry = await p.run(['publish', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^org\/llama-q4f16_1-MLC: would be created with 6 files \(/);
    expect(hub.repos).toEqual([]);
    expect(hub.requests.filter((q) => q.method !== 'GET' || q.path.includes('/repos/create'))).toEqual([]);

    expect((await p.run(['publish'], env)).code).toBe(0);
    hub.foreignCommit('org/llama-q4f16_1-MLC', 'notes.txt');
    const weights = Buffer.from(await readFile(p.path('hf/qwen/model.safetensors')));
    weights[10] = (weights[10] ?? 0) ^ 0xff;
    await writeFile(p.path('hf/qwen/model.safetensors'), weights);
    const heads = hub.repos.map((x) => `${x.repo}@${x.refs.main ?? ''}`);
    hub.requests.length = 0;
    hub.commitLog.length = 0;
    const r = await p.run(['publish', '--dry-run', '--json'], env);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JsonReport & { dry_run: boolean; repos: { deleted: string[] }[] };
    expect(report.dry_run).toBe(true);
    const byRepo = new Map(report.repos.map((x) => [`${x.repo} ${x.role}`, x]));
    expect(byRepo.get('org/llama-q4f16_1-MLC weights')).toMatchObject({ status: 'would-commit', deleted: ['notes.txt'], uploaded: { files: 0, bytes: 0 } });
    expect(byRepo.get('org/qwen-q4f16_1-MLC weights')?.status).toBe('would-commit');
    expect(byRepo.get('org/qwen-q4f16_1-MLC weights')?.uploaded.files).toBeGreaterThan(0);
    expect(byRepo.get('org/llama-q4f16_1-ctx768-MLC weights')?.status).toBe('up-to-date');
    expect(byRepo.get(`${LIBS} configs`)?.status).toBe('would-commit');
    // Read-only queries only: preupload and the LFS batch, no upload, no commit; every head where it was.
    expect(puts(hub)).toEqual([]);
    expect(hub.commitLog).toEqual([]);
    expect(hub.requests.filter((q) => q.method === 'POST').every((q) => /\/(preupload|paths-info)\/|\/objects\/batch$/.test(q.path))).toBe(true);
    expect(hub.repos.map((x) => `${x.repo}@${x.refs.main ?? ''}`)).toEqual(heads);
  });

  it("every model and model_lib URL of the published app config resolves at its pinned commit, and the file type-checks against web-llm's AppConfig", async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['publish'], env)).code).toBe(0);
    const text = hub.filesAt(LIBS)?.['web-llm/app-config.json']?.toString() ?? '';
    const app = JSON.parse(text) as { model_list: { model: string; model_lib: string; model_id: string }[] };
    expect(app.model_list).toHaveLength(2);
    for (const m of app.model_list) {
      expect(m.model).toMatch(new RegExp(`^${hub.url}/org/${m.model_id}/resolve/[0-9a-f]{40}/$`));
      const config = await resolved(hub, `${m.model}mlc-chat-config.json`);
      expect(config.status).toBe(200);
      expect(config.body.equals(await readFile(p.path('release', m.model_id, 'mlc-chat-config.json')))).toBe(true);
      expect(m.model_lib).toMatch(new RegExp(`^${hub.url}/${LIBS}/resolve/[0-9a-f]{40}/web-llm/[\\w.-]+\\.wasm$`));
      const lib = await resolved(hub, m.model_lib);
      expect(lib.status).toBe(200);
      expect(lib.body.equals(await readFile(p.path('release/libs', m.model_lib.split('/').pop() ?? '')))).toBe(true);
    }
    // The package config names each weights repository as mlc_llm package reads it, and its libraries as laid out in the repository.
    const pkg = JSON.parse(hub.filesAt(LIBS)?.['mlc-package/iphone/mlc-package-config.json']?.toString() ?? '{}') as {
      model_list: { model: string }[];
      model_lib_path_for_prepare_libs: Record<string, string>;
    };
    expect(pkg.model_list.map((m) => m.model).sort()).toEqual(['HF://org/llama-q4f16_1-ctx768-MLC', 'HF://org/qwen-q4f16_1-ctx768-MLC']);
    for (const path of Object.values(pkg.model_lib_path_for_prepare_libs)) expect(Object.keys(hub.filesAt(LIBS) ?? {})).toContain(path.replace('../../', ''));

    const checked = await typecheckAppConfig(text);
    expect(checked).toEqual({ code: 0, stdout: '' });
  }, 60_000);

  it('deletes what the release no longer has (never .gitattributes), unless --keep-extra', async () => {
    const { p, hub, env } = await setup();
    expect((await p.run(['publish', 'model=qwen'], env)).code).toBe(0);
    const repo = 'org/qwen-q4f16_1-MLC';
    hub.foreignCommit(repo, 'notes.txt');
    expect((await p.run(['publish', 'model=qwen', '--keep-extra'], env)).code).toBe(0);
    expect(Object.keys(hub.filesAt(repo) ?? {})).toContain('notes.txt');
    const r = await p.run(['publish', 'model=qwen'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${repo}: committed`);
    expect(Object.keys(hub.filesAt(repo) ?? {})).not.toContain('notes.txt');
    expect(Object.keys(hub.filesAt(repo) ?? {})).toContain('.gitattributes');
  });

  it('bad settings: a located manifest error or a clear message, exit 2, nothing sent', async () => {
    const { p, hub, env } = await setup(MANIFEST.replace('libs_repo: mlc-libs', 'lib_repo: mlc-libs'));
    const typo = await p.run(['publish'], env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/mlc\.build\.yaml:8:\d+: .*unknown key "lib_repo" in publish\.hub.*libs_repo/);
    await p.editManifest((y) => y.replace(/publish:[\s\S]*$/, ''));
    const noOrg = await p.run(['publish'], env);
    expect(noOrg.code).toBe(2);
    expect(noOrg.stderr).toContain('no hub organisation to publish to: set publish.hub.org in the manifest, or pass --org');
    const badRepo = await p.run(['publish', '--org', 'org', '--libs-repo', 'a/b/c'], env);
    expect(badRepo.code).toBe(2);
    expect(badRepo.stderr).toContain('--libs-repo "a/b/c" is not a repository name');
    expect(hub.requests).toEqual([]);
    expect(existsSync(p.path('release'))).toBe(false);
  });
});
