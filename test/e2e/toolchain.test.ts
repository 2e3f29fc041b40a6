// The managed toolchain end to end, offline, with the machine's real Python, venv and pip and
// wheels made by hand (test/helpers/wheels.ts) whose mlc_llm runs the test double.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cli.js';
import { NGINX, Nginx } from '../helpers/nginx.js';
import { Project } from '../helpers/project.js';
import { exec, MANAGED, managedManifest, MODELS, sha256, VENV } from '../helpers/managed-toolchain.js';
import { lacks } from '../helpers/tools.js';
import { SimpleIndex } from '../helpers/simple-index.js';
import { makeWheel, mlcWheels } from '../helpers/wheels.js';

const manifest = managedManifest;

interface Lock {
  toolchain?: Record<string, { request: string; python: string; packages: { name: string; version: string; sha256: string }[] }>;
}
const lockOf = async (p: Project) => JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as Lock;

/** Each project's store (the manifest's cache:). */
const storeOf = new Map<Project, string>();

async function project(cache: string, wheels = { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' }): Promise<Project> {
  const p = await Project.create(manifest(cache), MODELS);
  await mlcWheels(p.path('wheels'), wheels);
  storeOf.set(p, cache);
  return p;
}

/**
 * An environment whose pip would install something else, or nothing: a constraint against the
 * wanted version (PIP_CONSTRAINT), a pip.conf refusing wheels (PIP_CONFIG_FILE), and a module named
 * pip ahead of the real one (PYTHONPATH). A managed toolchain's pip must see none of them.
 */
async function pipConfiguredAgainst(p: Project): Promise<Record<string, string>> {
  const dir = p.path('hostile-pip');
  await mkdir(join(dir, 'pythonpath', 'pip'), { recursive: true });
  await writeFile(join(dir, 'constraints.txt'), 'mlc-llm-nightly-cpu==0.0.1\n');
  await writeFile(join(dir, 'pip.conf'), '[global]\nno-binary = :all:\n');
  await writeFile(join(dir, 'pythonpath', 'pip', '__init__.py'), '');
  await writeFile(join(dir, 'pythonpath', 'pip', '__main__.py'), 'raise SystemExit("not the real pip")\n');
  return { PIP_CONSTRAINT: join(dir, 'constraints.txt'), PIP_CONFIG_FILE: join(dir, 'pip.conf'), PYTHONPATH: join(dir, 'pythonpath') };
}

describe.skipIf(lacks('python3 with venv and pip', VENV))('managed toolchain (toolchain.install)', () => {
  let store: string;
  let a: Project;
  let first: Awaited<ReturnType<Project['run']>>;

  beforeAll(async () => {
    store = join(await tempDir(), 'store');
    a = await project(store);
    first = await a.run(['build'], { ...MANAGED, ...(await pipConfiguredAgainst(a)) });
  }, 120_000);

  it("installs on the first build, once, and pins every distribution by version and sha256, whatever this machine's pip configuration", async () => {
    expect(first.stderr).toContain('installing mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7');
    expect(first.stderr).toContain('pip: Successfully installed mlc-ai-nightly-cpu-0.1.dev5 mlc-llm-nightly-cpu-0.1.dev7'); // progress as it goes
    expect(first.code).toBe(0);
    expect(first.calls.map((c) => c.sub).sort()).toEqual(['compile', 'convert_weight', 'gen_config', 'gen_config']);
    const lock = await lockOf(a);
    const [platform, entry] = Object.entries(lock.toolchain ?? {})[0] ?? [];
    expect(platform).toMatch(/^[a-z]+_[a-z0-9_]+-cp3\d+$/);
    expect(entry?.packages).toEqual([
      {
        name: 'mlc-ai-nightly-cpu',
        version: '0.1.dev5',
        sha256: await sha256(a.path('wheels/mlc_ai_nightly_cpu-0.1.dev5-py3-none-any.whl')),
        file: 'mlc_ai_nightly_cpu-0.1.dev5-py3-none-any.whl',
      },
      {
        name: 'mlc-llm-nightly-cpu',
        version: '0.1.dev7',
        sha256: await sha256(a.path('wheels/mlc_llm_nightly_cpu-0.1.dev7-py3-none-any.whl')),
        file: 'mlc_llm_nightly_cpu-0.1.dev7-py3-none-any.whl',
      },
    ]);
    // A second build installs nothing and runs nothing.
    const again = await a.run(['build'], MANAGED);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('installing');
    expect(again.calls).toEqual([]);
  });

  it('a second project with the same toolchain and store installs nothing', async () => {
    const b = await project(store);
    const r = await b.run(['build'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('installing');
    expect((await lockOf(b)).toolchain).toEqual((await lockOf(a)).toolchain);
  });

  it('toolchain run -- --help prints mlc_llm usage; path names the environment; status says it matches the lock', async () => {
    const run = await a.run(['toolchain', 'run', '--', '--help'], MANAGED);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: MLC LLM Command Line Interface');
    const path = await a.run(['toolchain', 'path'], MANAGED);
    expect(path.stdout.trim()).toMatch(new RegExp(`^${store}/toolchains/[0-9a-f]+/bin/mlc_llm$`));
    const status = await a.run(['toolchain', 'status'], MANAGED);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('mlc-llm-nightly-cpu 0.1.dev7');
    expect(status.stdout).toContain('the environment matches mlc.build.lock');
    expect(status.stdout).toMatch(/tvm: .*\/tvm\/__init__\.py/);
  });

  it('a new machine with the committed lock installs exactly the pinned wheels, and refuses a tampered one', async () => {
    const c = await project(join(await tempDir(), 'store'), { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' });
    await copyFile(a.path('mlc.build.lock'), c.path('mlc.build.lock'));
    // A newer nightly on the index changes nothing: the lock decides.
    await mlcWheels(c.path('wheels'), { mlcLlm: '0.1.dev9', tvm: '0.1.dev9' });
    const r = await c.run(['build'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('resolving');
    expect(r.stderr).toContain('installing mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7');
    expect(await readFile(c.path('mlc.build.lock'), 'utf8')).toBe(await readFile(a.path('mlc.build.lock'), 'utf8'));

    // Same name and version, other bytes: pip refuses it by hash, and nothing counts as installed.
    const d = await project(join(await tempDir(), 'store'));
    await copyFile(a.path('mlc.build.lock'), d.path('mlc.build.lock'));
    await makeWheel(d.path('wheels'), { name: 'mlc-ai-nightly-cpu', version: '0.1.dev5', files: { 'tvm/__init__.py': 'import os\n' } });
    const t = await d.run(['build'], MANAGED);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/DO NOT MATCH THE HASHES/);
    expect(t.calls).toEqual([]);
    const status = await d.run(['toolchain', 'status'], MANAGED);
    expect(status.stdout).toContain('not installed here');
  }, 120_000);

  it('a machine whose Python differs only in its patch level uses the same pins', async () => {
    const c = await project(join(await tempDir(), 'store'));
    await copyFile(a.path('mlc.build.lock'), c.path('mlc.build.lock'));
    await writeFile(
      c.path('patch-python'),
      `#!/bin/sh\ncase "$2" in *platform.system*) exec python3 -c 'import json, platform, sys; v = platform.python_version().split("."); print(json.dumps({"version": ".".join(v[:2] + ["99"]), "system": platform.system().lower(), "machine": platform.machine().lower(), "abi": sys.implementation.cache_tag}))';; esac\nexec python3 "$@"\n`,
      { mode: 0o755 },
    );
    await c.editManifest((y) => y.replace('index_url: false }', 'index_url: false, python: ./patch-python }'));
    const r = await c.run(['build'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('resolving');
    expect(await readFile(c.path('mlc.build.lock'), 'utf8')).toBe(await readFile(a.path('mlc.build.lock'), 'utf8'));
  }, 120_000);

  it('a new version pinned in the lock re-keys the steps that run mlc_llm, not the downloads', async () => {
    const e = await project(join(await tempDir(), 'store'));
    expect((await e.run(['build'], MANAGED)).code).toBe(0);
    await mlcWheels(e.path('wheels'), { mlcLlm: '0.1.dev8', tvm: '0.1.dev5' });
    const r = await e.run(['build', '--update', '--json'], MANAGED);
    expect(r.code).toBe(0);
    expect((await lockOf(e)).toolchain?.[Object.keys((await lockOf(e)).toolchain ?? {})[0] ?? '']?.packages.map((p) => p.version)).toEqual([
      '0.1.dev5',
      '0.1.dev8',
    ]);
    expect(r.calls.map((c) => c.sub).sort()).toEqual(['compile', 'convert_weight', 'gen_config', 'gen_config']);
    const finishes = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; kind?: string; status?: string })
      .filter((x) => x.event === 'finish' && x.kind === 'download');
    expect(finishes.map((f) => f.status)).toEqual(['fresh', 'fresh']);

    // The manifest asks for another toolchain: the lock's pins are resolved again, without --update.
    await e.editManifest((y) => y.replace('packages: [mlc-llm-nightly-cpu]', 'packages: ["mlc-llm-nightly-cpu==0.1.dev7"]'));
    const asked = await e.run(['build'], MANAGED);
    expect(asked.code).toBe(0);
    expect(asked.stderr).toContain('resolving mlc-llm-nightly-cpu==0.1.dev7');
    expect((await lockOf(e)).toolchain?.[Object.keys((await lockOf(e)).toolchain ?? {})[0] ?? '']?.packages.map((p) => p.version)).toEqual([
      '0.1.dev5',
      '0.1.dev7',
    ]);
  }, 120_000);

  it('installs from a package index (PEP 503 simple), with the hashes it lists', async () => {
    const h = await project(join(await tempDir(), 'store'));
    const index = await SimpleIndex.serve(h.path('wheels'));
    try {
      await h.editManifest((y) => y.replace('find_links: [./wheels], index_url: false', `index_url: "${index.url}"`));
      const r = await h.run(['build'], MANAGED);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('installing mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7');
      expect(index.requests).toContain('/simple/mlc-llm-nightly-cpu/');
      expect(index.requests).toContain('/files/mlc_llm_nightly_cpu-0.1.dev7-py3-none-any.whl');
      expect(r.calls.map((c) => c.sub)).toContain('compile');
    } finally {
      await index.close();
    }
  }, 120_000);

  it.skipIf(lacks('nginx', NGINX !== undefined))(
    "a release on Linux takes a Mac's iphone library from the remote cache, keyed with the Mac's pinned toolchain",
    async () => {
      const server = await Nginx.start();
      try {
        // "The Mac": its Python says darwin/arm64, so its toolchain is pinned as darwin_arm64-… (the double builds iphone anywhere).
        const mac = await project(join(await tempDir(), 'store'));
        await writeFile(
          mac.path('mac-python'),
          `#!/bin/sh\ncase "$2" in *platform.system*) exec python3 -c 'import json, platform, sys; print(json.dumps({"version": platform.python_version(), "system": "darwin", "machine": "arm64", "abi": sys.implementation.cache_tag}))';; esac\nexec python3 "$@"\n`,
          { mode: 0o755 },
        );
        await mac.editManifest((y) =>
          y.replace('index_url: false }', 'index_url: false, python: ./mac-python }').replace('targets: [android]', 'targets: [android, iphone]'),
        );
        // Pinned for the Mac from here (pip resolving for its platform), then used there as they are.
        const abi = (await exec('python3', ['-c', 'import sys; print(sys.implementation.cache_tag.replace("cpython-", "cp"))'])).stdout.trim();
        const pinned = await mac.run(['toolchain', 'lock', '--platform', `darwin_arm64-${abi}`], MANAGED);
        expect(pinned.code).toBe(0);
        expect(pinned.stdout).toBe(`darwin_arm64-${abi}: mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7\n`);
        const built = await mac.run(['build', 'target=iphone', '--remote-cache', server.url], MANAGED);
        expect(built.code).toBe(0);
        expect(built.stderr).not.toContain('resolving');
        expect(Object.keys((await lockOf(mac)).toolchain ?? {})).toEqual([expect.stringMatching(/^darwin_arm64-cp3\d+$/)]);

        // "The Linux release job": the same manifest and lock, a fresh store, this host's own toolchain for the configs.
        const linux = await project(join(await tempDir(), 'store'));
        await linux.editManifest((y) => y.replace('targets: [android]', 'targets: [android, iphone]'));
        await copyFile(mac.path('mlc.build.lock'), linux.path('mlc.build.lock'));
        const r = await linux.run(['release', 'target=iphone', '--remote-cache', server.url], { ...MANAGED, MLC_BUILD_ALL_HOSTS: '' });
        expect(r.stderr).not.toContain('cannot be built');
        expect(r.code).toBe(0);
        expect(r.calls.filter((c) => c.sub === 'compile')).toEqual([]);
        const inv = JSON.parse(await readFile(linux.path('release/release.json'), 'utf8')) as { libraries: { cell: string; sha256: string }[] };
        expect(inv.libraries.map((l) => [l.cell, l.sha256])).toEqual([['qwen/q4f16_1/iphone', await sha256(mac.path('dist/libs/qwen-q4f16_1-iphone.tar'))]]);

        // Without the Mac's pins the key is unknown here: named, nothing written.
        const blind = await project(join(await tempDir(), 'store'));
        await blind.editManifest((y) => y.replace('targets: [android]', 'targets: [android, iphone]'));
        const miss = await blind.run(['release', 'target=iphone', '--remote-cache', server.url], { ...MANAGED, MLC_BUILD_ALL_HOSTS: '' });
        expect(miss.code).toBe(1);
        expect(miss.stderr).toContain('mlc.build.lock pins no toolchain for darwin-arm64 yet');
      } finally {
        await server.stop();
      }
    },
    180_000,
  );

  it('kill -9 during the install leaves no environment a later build trusts', async () => {
    const f = await project(join(await tempDir(), 'store'));
    const toolchains = join(storeOf.get(f) as string, 'toolchains');
    const child = spawn(process.execPath, [BIN, 'build'], { cwd: f.dir, env: { ...process.env, ...f.env, ...MANAGED }, stdio: 'ignore' });
    // Killed once the venv is made and pip is installing into it: a half environment is on disk.
    const halfMade = async () => {
      const names = await readdir(toolchains).catch(() => [] as string[]);
      return names.some((n) => /^[0-9a-f]+$/.test(n) && existsSync(join(toolchains, n, 'mlc-build-requirements.txt')));
    };
    while (!(await halfMade())) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const envs = (await readdir(toolchains)).filter((n) => /^[0-9a-f]+$/.test(n));
    expect(envs.length).toBe(1);
    for (const name of envs) expect(existsSync(join(toolchains, name, '.mlc-build-complete'))).toBe(false);
    // pip may still be finishing in its own process group; the next build removes what it left and installs again.
    const r = await f.run(['build'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('installing');
    expect(r.calls.map((c) => c.sub)).toContain('compile');
  }, 120_000);

  it('says what to do when no wheel fits, when Python is too old, and when both install and mlc_llm are set', async () => {
    const g = await project(join(await tempDir(), 'store'));
    await g.editManifest((y) => y.replace('packages: [mlc-llm-nightly-cpu]', 'packages: [mlc-llm-nightly-cu999]'));
    const r = await g.run(['build'], MANAGED);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('No matching distribution found for mlc-llm-nightly-cu999');
    expect(r.stderr).toMatch(/cu122.*NVIDIA, CUDA 12\.2/);

    await writeFile(g.path('old-python'), `#!/bin/sh\necho '{"version": "3.7.1", "system": "linux", "machine": "x86_64", "abi": "cpython-37"}'\n`, {
      mode: 0o755,
    });
    await g.editManifest((y) => y.replace('index_url: false }', 'index_url: false, python: ./old-python }'));
    const old = await g.run(['build'], MANAGED);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("is Python 3.7.1: MLC's wheels are built for Python 3.9 to 3.13 (3.11 recommended)");

    await g.editManifest((y) => y.replace('toolchain:\n', 'toolchain:\n  mlc_llm: mlc_llm\n'));
    const both = await g.run(['plan'], MANAGED);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/mlc\.build\.yaml:\d+:\d+: .*toolchain\.install and toolchain\.mlc_llm are alternatives/);
  }, 120_000);

  it('an index that cannot be reached is remembered: the next builds say so at once instead of trying for every build; toolchain install tries at once; the summary counts the attempt', async () => {
    const h = await project(join(await tempDir(), 'store'));
    // A port nothing listens on, on this machine: pip is refused and says it cannot connect.
    await h.editManifest((y) => y.replace('find_links: [./wheels], index_url: false', 'index_url: "http://127.0.0.1:9/simple"'));
    const t0 = Date.now();
    const first = await h.run(['build', '--json'], MANAGED);
    const firstMs = Date.now() - t0;
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('pip cannot reach http://127.0.0.1:9/simple');
    const summary = JSON.parse(first.stdout.trim().split('\n').at(-1) ?? '{}') as { event?: string; ms?: number };
    expect(summary.event).toBe('summary');
    // The summary's time is the build's: the install attempt is in it (the process's own start-up is not).
    expect(summary.ms ?? 0).toBeGreaterThan(firstMs / 2);
    const second = await h.run(['build'], MANAGED);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /pip cannot reach http:\/\/127\.0\.0\.1:9\/simple.*\(at \d\d:\d\d:\d\d; not tried again for \d+ min — mlc-build toolchain install tries now\)/,
    );
    expect(second.stderr).not.toContain('resolving');
    const retry = await h.run(['toolchain', 'install'], MANAGED);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toContain('resolving'); // it tried again
  }, 120_000);
});
