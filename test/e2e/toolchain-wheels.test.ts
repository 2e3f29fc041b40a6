// The managed toolchain's pinned wheels kept as blobs, end to end: with the machine's real Python,
// venv and pip, hand-made wheels (test/helpers/wheels.ts) and nginx as the remote cache. A wheel
// folder removed stands for an index that deleted its old nightlies.
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { NGINX, Nginx } from '../helpers/nginx.js';
import { Project } from '../helpers/project.js';
import { exec, lockOf, MANAGED, managedManifest, MODELS, sha256, VENV } from '../helpers/managed-toolchain.js';
import { lacks } from '../helpers/tools.js';
import { mlcWheels } from '../helpers/wheels.js';

const manifest = managedManifest;
const TVM = 'mlc_ai_nightly_cpu-0.1.dev5-py3-none-any.whl';
const LLM = 'mlc_llm_nightly_cpu-0.1.dev7-py3-none-any.whl';

const blob = (store: string, digest: string) => join(store, 'cas', digest.slice(0, 2), digest);
const envsIn = async (store: string) => (await readdir(join(store, 'toolchains')).catch(() => [] as string[])).filter((n) => /^[0-9a-f]+$/.test(n));

/** A project with its own store and (unless `wheels` is false) a find_links folder of the pinned wheels. */
async function project(opts: { wheels?: boolean; lockFrom?: Project } = {}): Promise<{ p: Project; store: string }> {
  const store = join(await tempDir(), 'store');
  const p = await Project.create(manifest(store), MODELS);
  if (opts.wheels !== false) await mlcWheels(p.path('wheels'), { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' });
  if (opts.lockFrom) await copyFile(opts.lockFrom.path('mlc.build.lock'), p.path('mlc.build.lock'));
  return { p, store };
}

describe.skipIf(lacks('python3 with venv and pip', VENV))('the pinned wheels, kept in the store and the remote cache', () => {
  let server: Nginx | undefined;
  let first: { p: Project; store: string };
  let digests: { tvm: string; llm: string };

  beforeAll(async () => {
    if (NGINX) server = await Nginx.start();
    first = await project();
    const r = await first.p.run(['build', ...(server ? ['--remote-cache', server.url] : [])], MANAGED);
    expect(r.code, r.stderr).toBe(0);
    digests = { tvm: await sha256(first.p.path('wheels', TVM)), llm: await sha256(first.p.path('wheels', LLM)) };
    // The index forgets them: every later install must find them elsewhere.
    await rm(first.p.path('wheels'), { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('keeps every wheel it installs in the store under its sha256, named in the lock', async () => {
    for (const d of Object.values(digests)) expect(await sha256(blob(first.store, d))).toBe(d);
    const [entry] = Object.values((await lockOf(first.p)).toolchain ?? {});
    expect(entry?.packages.map((p) => p.file)).toEqual([TVM, LLM]);
  });

  it.skipIf(lacks('nginx', NGINX !== undefined))(
    'a fresh project with the lock, an empty store and the remote cache installs and builds with no index',
    async () => {
      const url = (server as Nginx).url;
      const { p, store } = await project({ wheels: false, lockFrom: first.p });
      await (server as Nginx).clearLog();
      const r = await p.run(['build', '--remote-cache', url], MANAGED);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`2 of 2 pinned wheels for`);
      expect(r.stderr).not.toContain('fetching');
      expect(r.stderr).toContain('ready in');
      expect(await envsIn(store)).toHaveLength(1);
      const gets = (await (server as Nginx).requests()).filter((q) => q.method === 'GET').map((q) => q.uri);
      expect(gets).toContain(`/cache/cas/${digests.tvm}`);
      expect(gets).toContain(`/cache/cas/${digests.llm}`);
      // It filled its own store on the way.
      for (const d of Object.values(digests)) expect(existsSync(blob(store, d))).toBe(true);
      const status = await p.run(['toolchain', 'status', '--remote-cache', url], MANAGED);
      expect(status.stdout).toContain(`${TVM}: store yes, remote yes, index no`);
      expect(status.stdout).toContain('the environment matches mlc.build.lock');
      const run = await p.run(['toolchain', 'run', '--', '--help'], MANAGED);
      expect(run.stdout).toContain('usage: MLC LLM Command Line Interface');
    },
    120_000,
  );

  it.skipIf(lacks('nginx', NGINX !== undefined))(
    "a lock that names no files (written before wheels were kept) finds them in the remote's entry for the pins, and learns them",
    async () => {
      const url = (server as Nginx).url;
      const { p } = await project({ wheels: false, lockFrom: first.p });
      const lock = await lockOf(p);
      for (const entry of Object.values(lock.toolchain ?? {})) for (const pin of entry.packages) delete pin.file;
      await writeFile(p.path('mlc.build.lock'), JSON.stringify(lock, null, 2) + '\n');
      await (server as Nginx).clearLog();
      const r = await p.run(['toolchain', 'install', '--remote-cache', url], MANAGED);
      expect(r.code, r.stderr).toBe(0);
      expect((await (server as Nginx).requests()).map((q) => `${q.method} ${q.uri} ${q.status}`)).toContainEqual(
        expect.stringMatching(/^GET \/cache\/ac\/[0-9a-f]{64} 200$/),
      );
      expect(await readFile(p.path('mlc.build.lock'), 'utf8')).toBe(await readFile(first.p.path('mlc.build.lock'), 'utf8'));
    },
    120_000,
  );

  it('without the remote (and no index): exit 1 naming both wheels with their sha256, nothing installed', async () => {
    const { p, store } = await project({ wheels: false, lockFrom: first.p });
    const r = await p.run(['build'], MANAGED);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no place has 2 pinned wheels of the toolchain for');
    expect(r.stderr).toContain(`${TVM}  sha256:${digests.tvm}`);
    expect(r.stderr).toContain(`${LLM}  sha256:${digests.llm}`);
    expect(r.stderr).toContain(`the store (${store}): not there`);
    expect(r.stderr).toContain(`the index (${p.path('wheels')}):`);
    expect(r.stderr).toContain('mlc-build toolchain lock --update');
    expect(r.stderr).toContain('Nothing was installed.');
    expect(r.calls).toEqual([]);
    expect(await envsIn(store)).toEqual([]);
  }, 120_000);

  it.skipIf(lacks('nginx', NGINX !== undefined))(
    'a wheel blob on the remote altered by one byte is refused and the next source tried',
    async () => {
      const nginx = server as Nginx;
      const file = join(nginx.dir, 'root', 'cache', 'cas', digests.tvm);
      const good = await readFile(file);
      const bad = Buffer.from(good);
      bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
      await writeFile(file, bad);
      try {
        const { p, store } = await project({ wheels: false, lockFrom: first.p });
        const r = await p.run(['build', '--remote-cache', nginx.url], MANAGED);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`${TVM}  sha256:${digests.tvm}[^\\n]*\\n(    .*\\n)*    the remote cache \\([^)]+\\): not taken: .*refused`));
        expect(r.stderr).not.toContain(`${LLM}  sha256`); // the other one came from the remote
        expect(existsSync(blob(store, digests.tvm))).toBe(false);
        expect(await envsIn(store)).toEqual([]);
        // With the wheel back on the index, the index is the next source.
        await mlcWheels(p.path('wheels'), { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' });
        const again = await p.run(['build', '--remote-cache', nginx.url], MANAGED);
        expect(again.code, again.stderr).toBe(0);
        expect(again.stderr).toContain('fetching mlc-ai-nightly-cpu 0.1.dev5 from the index');
      } finally {
        await writeFile(file, good);
      }
    },
    120_000,
  );

  it('the store alone suffices: with the environment removed, a build installs it again from the kept wheels', async () => {
    const { p, store } = first;
    const [env] = await envsIn(store);
    await rm(join(store, 'toolchains', env ?? 'none'), { recursive: true, force: true });
    const r = await p.run(['build', '-B', '--no-remote-cache'], MANAGED);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('installing mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7');
    expect(r.stderr).toContain('2 of 2 pinned wheels for');
    expect(r.stderr).not.toContain('fetching');
    expect(r.calls.map((c) => c.sub)).toContain('compile');
  }, 120_000);

  it('toolchain export writes the wheels and a hashed requirements.txt that pip installs with no index', async () => {
    const out = join(await tempDir(), 'offline');
    const r = await first.p.run(['toolchain', 'export', out, '--no-remote-cache'], MANAGED);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual([TVM, LLM, 'requirements.txt'].sort());
    expect(await readFile(join(out, 'requirements.txt'), 'utf8')).toContain(`mlc-ai-nightly-cpu==0.1.dev5 --hash=sha256:${digests.tvm}\n`);
    const venv = join(await tempDir(), 'venv');
    await exec('python3', ['-m', 'venv', venv]);
    const env = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    await exec(join(venv, 'bin/pip'), ['install', '--no-index', '--require-hashes', '-r', join(out, 'requirements.txt'), '--find-links', out], { env });
    const { stdout } = await exec(join(venv, 'bin/python'), ['-c', 'import tvm; print(tvm.__version__)']);
    expect(stdout.trim()).toBe('0.1.dev5');
    // And toolchain.install.find_links can name such a folder: a project with nothing else installs from it.
    const { p } = await project({ wheels: false, lockFrom: first.p });
    await p.editManifest((y) => y.replace('find_links: [./wheels]', `find_links: [${out}]`));
    expect((await p.run(['toolchain', 'install'], MANAGED)).code).toBe(0);
  }, 120_000);

  it('gc with a small limit keeps the pinned wheels, however old; wheels no lock pins go by the usual rule', async () => {
    const { p, store } = await project({ lockFrom: first.p });
    expect((await p.run(['toolchain', 'install'], MANAGED)).code).toBe(0);
    // A newer pin leaves the old wheels to no lock of this project.
    await mlcWheels(p.path('wheels'), { mlcLlm: '0.1.dev8', tvm: '0.1.dev5' });
    expect((await p.run(['toolchain', 'lock', '--update'], MANAGED)).code).toBe(0);
    const newLlm = await sha256(p.path('wheels/mlc_llm_nightly_cpu-0.1.dev8-py3-none-any.whl'));
    // Everything older than gc's grace period (an hour), records and blobs alike.
    const old = new Date(Date.now() - 3 * 24 * 3600_000);
    for (const dir of ['cas', 'ac'])
      for (const sub of await readdir(join(store, dir))) for (const f of await readdir(join(store, dir, sub))) await utimes(join(store, dir, sub, f), old, old);
    const gc = await p.run(['gc', '--max-size', '0'], MANAGED);
    expect(gc.code, gc.stderr).toBe(0);
    expect(existsSync(blob(store, digests.tvm))).toBe(true);
    expect(existsSync(blob(store, newLlm))).toBe(true);
    expect(existsSync(blob(store, digests.llm))).toBe(false); // pinned no more
    // Only --all with a limit may drop them.
    expect((await p.run(['gc', '--all', '--max-size', '0'], MANAGED)).code).toBe(0);
    expect(existsSync(blob(store, newLlm))).toBe(false);
  }, 120_000);
});
