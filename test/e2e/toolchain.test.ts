// The managed toolchain end to end, offline, with the machine's real Python, venv and pip and
// wheels made by hand (test/helpers/wheels.ts) whose mlc_llm runs the test double: the first
// install and its pins, and what other projects and machines do with them. Other files:
// toolchain-keys (pins in the steps' keys), toolchain-install (sources and failures of an install).
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';
import { exec, lockOf, MANAGED, managedProject, sha256, VENV } from '../helpers/managed-toolchain.js';
import { lacks } from '../helpers/tools.js';
import { makeWheel, mlcWheels } from '../helpers/wheels.js';

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
    a = await managedProject(store);
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
    const b = await managedProject(store);
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

  it('the environment holds the pinned distributions alone, filled by the one pip the store keeps', async () => {
    expect(first.stderr.split("making pip's environment for Python").length - 1).toBe(1); // resolving and installing share it
    expect((await readdir(join(store, 'toolchains'))).filter((n) => n.startsWith('pip-'))).toHaveLength(1);
    const mlcLlm = (await a.run(['toolchain', 'path'], MANAGED)).stdout.trim();
    const { stdout } = await exec(join(dirname(mlcLlm), 'python'), [
      '-c',
      'import json, importlib.metadata as m; print(json.dumps(sorted(d.metadata["Name"] for d in m.distributions())))',
    ]);
    expect(JSON.parse(stdout)).toEqual(['mlc-ai-nightly-cpu', 'mlc-llm-nightly-cpu']);
  });

  it('a new machine with the committed lock installs exactly the pinned wheels, and refuses a tampered one', async () => {
    const c = await managedProject(join(await tempDir(), 'store'), { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' });
    await copyFile(a.path('mlc.build.lock'), c.path('mlc.build.lock'));
    // A newer nightly on the index changes nothing: the lock decides.
    await mlcWheels(c.path('wheels'), { mlcLlm: '0.1.dev9', tvm: '0.1.dev9' });
    const r = await c.run(['build'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('resolving');
    expect(r.stderr).toContain('installing mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7');
    expect(await readFile(c.path('mlc.build.lock'), 'utf8')).toBe(await readFile(a.path('mlc.build.lock'), 'utf8'));

    // Same name and version, other bytes: pip refuses it by hash, and nothing counts as installed.
    const d = await managedProject(join(await tempDir(), 'store'));
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
    const c = await managedProject(join(await tempDir(), 'store'));
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
});
