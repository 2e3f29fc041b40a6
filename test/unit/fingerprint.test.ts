// The toolchain fingerprint, against a fake Python installation of mlc_llm and TVM.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { describe, expect, it } from 'vitest';
import { StatCache } from '../../src/store/stat-cache.js';
import { fingerprintToolchain } from '../../src/toolchain/fingerprint.js';
import { DOUBLE } from '../helpers/project.js';
import { lacks } from '../helpers/tools.js';

const python = (() => {
  try {
    return execFileSync('python3', ['-c', 'import importlib.metadata, sys; print(sys.executable)']).toString().trim();
  } catch {
    return undefined;
  }
})();
const noPython = lacks('python3 (with importlib.metadata)', python !== undefined);

async function fakeInstall(version: string, libBytes: string): Promise<{ bin: string; env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await tempDir('mlc-build-fp-');
  const site = join(dir, 'site-packages');
  await mkdir(join(site, 'mlc_llm'), { recursive: true });
  await mkdir(join(site, 'tvm'), { recursive: true });
  await writeFile(join(site, 'mlc_llm/__init__.py'), '');
  await writeFile(join(site, 'tvm/__init__.py'), '');
  await writeFile(join(site, 'tvm/libtvm.so'), libBytes);
  await mkdir(join(site, 'mlc_ai_nightly-0.dist-info'));
  await writeFile(join(site, 'mlc_ai_nightly-0.dist-info/METADATA'), `Metadata-Version: 2.1\nName: mlc-ai-nightly\nVersion: ${version}\n`);
  await writeFile(join(site, 'mlc_ai_nightly-0.dist-info/top_level.txt'), 'mlc_llm\ntvm\n');
  const bin = join(dir, 'bin/mlc_llm');
  await mkdir(join(dir, 'bin'));
  await writeFile(bin, '#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n');
  await chmod(bin, 0o755);
  return { bin, dir, env: { ...process.env, PYTHONPATH: site } };
}

const fp = async (argv: string[], env: NodeJS.ProcessEnv, fingerprintCmd?: string) => {
  const stats = await StatCache.load('/nonexistent/stat-cache.json');
  const r = await fingerprintToolchain({ argv, from: 'manifest' }, { fingerprintCmd, cwd: tmpdir(), env, stats });
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

describe('toolchain fingerprint', () => {
  it.skipIf(noPython)('asks the console script’s Python for mlc_llm and TVM versions and native library digests', async () => {
    const a = await fakeInstall('0.20.dev1', 'libtvm v1');
    const f = await fp([a.bin], a.env);
    const facts = f.facts as { mlc_llm: { dists: Record<string, { version: string }> }; tvm: { libs: string[] }; libDigests: Record<string, string> };
    expect(facts.mlc_llm.dists['mlc-ai-nightly']?.version).toBe('0.20.dev1');
    expect(facts.tvm.libs).toEqual([join(a.dir, 'site-packages/tvm/libtvm.so')]);
    expect(Object.keys(facts.libDigests)).toHaveLength(1);
  });

  it.skipIf(noPython)('changes with a pip upgrade even when the console script does not', async () => {
    const a = await fakeInstall('0.20.dev1', 'libtvm v1');
    const before = await fp([a.bin], a.env);
    await writeFile(join(a.dir, 'site-packages/tvm/libtvm.so'), 'libtvm v2, same version string');
    const rebuilt = await fp([a.bin], a.env);
    expect(rebuilt.digest).not.toBe(before.digest);
    const b = await fakeInstall('0.20.dev2', 'libtvm v1');
    expect((await fp([b.bin], b.env)).digest).not.toBe(before.digest);
    expect((await fp([a.bin], a.env)).digest).toBe(rebuilt.digest);
  });

  it.skipIf(noPython)('takes the interpreter of `python -m mlc_llm`', async () => {
    const a = await fakeInstall('0.20.dev1', 'libtvm v1');
    const f = await fp(['python3', '-m', 'mlc_llm'], a.env);
    expect((f.facts as { mlc_llm: { path: string } }).mlc_llm.path).toBe(join(a.dir, 'site-packages/mlc_llm'));
  });

  it('falls back to the executable’s digest when no Python is behind it (the test double)', async () => {
    const f = await fp([DOUBLE], process.env);
    expect(f.facts).toMatchObject({ executable: DOUBLE });
  });

  it('uses toolchain.fingerprint’s output when set', async () => {
    const a = await fp(['anything'], process.env, 'echo v1');
    const b = await fp(['anything'], process.env, 'echo v2');
    expect(a.digest).not.toBe(b.digest);
    expect(a.facts).toEqual({ command: 'echo v1' });
  });

  it('says what is missing when the command does not exist', async () => {
    const stats = await StatCache.load('/nonexistent/stat-cache.json');
    const r = await fingerprintToolchain({ argv: ['/nonexistent/mlc_llm'], from: 'env' }, { cwd: tmpdir(), env: process.env, stats });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(
      /^\/nonexistent\/mlc_llm not found: install it: python -m pip install --pre -U -f https:\/\/mlc\.ai\/wheels mlc-llm-nightly-cpu mlc-ai-nightly-cpu \(.*replace cpu by cu122 for NVIDIA, CUDA 12\.2.*rocm61.*; or point toolchain\.mlc_llm in the manifest \(or MLC_BUILD_MLC_LLM\) at an installed mlc_llm; `mlc-build plan` works without it$/,
    );
  });
});
