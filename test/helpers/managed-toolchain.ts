// What the managed toolchain's end-to-end tests share: whether this machine's python3 can make a
// venv with pip, a manifest that installs the hand-made wheels from ./wheels, projects made with
// it, their lock, and file digests.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './cli.js';
import { Project } from './project.js';
import { mlcWheels } from './wheels.js';

export const exec = promisify(execFile);

export const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

// A venv without pip (what a toolchain's environment is) and ensurepip's pip (what mlc-build keeps
// once per store to fill them), checked without the seconds ensurepip takes to install pip.
async function hasVenv(): Promise<boolean> {
  try {
    const dir = await tempDir();
    await exec('python3', ['-m', 'venv', '--without-pip', join(dir, 'v')]);
    const { stdout } = await exec(join(dir, 'v/bin/python'), ['-c', 'import ensurepip; print(ensurepip.version())']);
    return existsSync(join(dir, 'v/bin/python')) && /^\d+\.\d+/.test(stdout.trim());
  } catch {
    return false;
  }
}

/** True if python3 can make a venv with pip here. */
export const VENV = await hasVenv();

/** A project that installs mlc-llm-nightly-cpu from the wheels in ./wheels, offline, with its store at `cache`. */
export const managedManifest = (cache: string): string => `version: 1
cache: ${cache}
toolchain:
  install: { packages: [mlc-llm-nightly-cpu], find_links: [./wheels], index_url: false }
models:
  qwen: { source: ./hf/qwen, conv_template: qwen2 }
quantizations: [q4f16_1]
targets: [android]
`;

export const MODELS = { qwen: { preset: 'qwen2_0_5b', weights: 'safetensors' } } as const;
/** The managed toolchain, not the double on MLC_BUILD_MLC_LLM. */
export const MANAGED = { MLC_BUILD_MLC_LLM: '' };

export interface Lock {
  toolchain?: Record<string, { request: string; python: string; packages: { name: string; version: string; sha256: string; file?: string }[] }>;
}
export const lockOf = async (p: Project): Promise<Lock> => JSON.parse(await readFile(p.path('mlc.build.lock'), 'utf8')) as Lock;

/** A project with its store at `cache` and a find_links folder of the wheels. */
export async function managedProject(cache: string, wheels = { mlcLlm: '0.1.dev7', tvm: '0.1.dev5' }): Promise<Project> {
  const p = await Project.create(managedManifest(cache), MODELS);
  await mlcWheels(p.path('wheels'), wheels);
  return p;
}
