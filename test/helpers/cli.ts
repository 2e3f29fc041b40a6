// Runs the real CLI binary as a child process, as a user would.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/mlc-build.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(args: readonly string[], opts: { cwd: string; env?: Record<string, string | undefined> }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // The mlc_llm double builds for every platform: tests try every cell unless a test of
    // host-aware skipping turns it off (MLC_BUILD_ALL_HOSTS: '').
    const env: Record<string, string | undefined> = { ...process.env, MLC_BUILD_ALL_HOSTS: '1', ...opts.env };
    delete env.MLC_BUILD_MLC_LLM;
    if (opts.env?.MLC_BUILD_MLC_LLM !== undefined) env.MLC_BUILD_MLC_LLM = opts.env.MLC_BUILD_MLC_LLM;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Temp folders made by this test file, removed after it (test/setup.ts). */
export const TEMP_DIRS: string[] = [];

/** A fresh empty folder, removed after the test file. */
export async function tempDir(prefix = 'mlc-build-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  TEMP_DIRS.push(dir);
  return dir;
}

/** A fresh folder holding the given files (paths relative to it). */
export async function tempProject(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mlc-build-test-'));
  TEMP_DIRS.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}
