// How a managed toolchain's install goes, end to end with the machine's real Python, venv and pip
// and hand-made wheels: from a package index, with an index that cannot be reached, with no wheel
// that fits or a Python too old, and killed half-way.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cli.js';
import { MANAGED, managedProject, VENV } from '../helpers/managed-toolchain.js';
import { lacks } from '../helpers/tools.js';
import { SimpleIndex } from '../helpers/simple-index.js';

describe.skipIf(lacks('python3 with venv and pip', VENV))('managed toolchain (toolchain.install): installing', () => {
  it('installs from a package index (PEP 503 simple), with the hashes it lists', async () => {
    const h = await managedProject(join(await tempDir(), 'store'));
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

  it('kill -9 during the install leaves no environment a later build trusts', async () => {
    const store = join(await tempDir(), 'store');
    const f = await managedProject(store);
    const toolchains = join(store, 'toolchains');
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

  it("kill -9 while pip's environment is made leaves nothing a later build uses", async () => {
    const store = join(await tempDir(), 'store');
    const f = await managedProject(store);
    const toolchains = join(store, 'toolchains');
    const child = spawn(process.execPath, [BIN, 'build'], { cwd: f.dir, env: { ...process.env, ...f.env, ...MANAGED }, stdio: 'ignore' });
    // Killed once venv has made its python and ensurepip is installing pip: a half venv is on disk.
    const halfMade = async () => {
      for (const dir of [toolchains, join(toolchains, 'tmp')]) {
        const names = await readdir(dir).catch(() => [] as string[]);
        if (names.some((n) => n.startsWith('pip-') && existsSync(join(dir, n, 'bin/python')))) return true;
      }
      return false;
    };
    while (!(await halfMade())) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect((await readdir(toolchains)).filter((n) => n !== 'tmp')).toEqual([]);
    const r = await f.run(['build'], MANAGED);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("making pip's environment");
    expect(r.calls.map((c) => c.sub)).toContain('compile');
  }, 120_000);

  it('says what to do when no wheel fits, when Python is too old, and when both install and mlc_llm are set', async () => {
    const g = await managedProject(join(await tempDir(), 'store'));
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
    const h = await managedProject(join(await tempDir(), 'store'));
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
