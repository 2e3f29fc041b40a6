// kill -9 of mlc-build at random moments: the next build must finish with every artifact
// byte-identical to a clean build's, no stray file in out/, no step counted done that did not finish.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  M: { source: ./hf/m, conv_template: llama-2 }
quantizations: [q0f16, q4f16_1]
targets: [cuda, android]
`;

async function tree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, await tree(p, `${prefix}${e.name}/`));
    else
      out[`${prefix}${e.name}`] = createHash('sha256')
        .update(await readFile(p))
        .digest('hex');
  }
  return out;
}

describe('kill -9 at any moment', () => {
  it('20 builds killed at random moments (half of them while a step runs): each next build completes the same artifacts, with nothing stray', async () => {
    const reference = await Project.create(MANIFEST, { m: { preset: 'llama2_7b', weights: 'safetensors' } });
    // MBs of output, so the window between writing and recording is real.
    const env = { MLC_DOUBLE_SHARD_CAP: String(1 << 20), MLC_DOUBLE_SLEEP_MS: '40' };
    const { writeFile } = await import('node:fs/promises');
    await writeFile(reference.path('hf/m/model.safetensors'), Buffer.alloc(6 << 20, 3));
    expect((await reference.run([], env)).code).toBe(0);
    const expected = await tree(reference.path('dist'));
    expect(Object.keys(expected).length).toBeGreaterThan(10);

    const p = await Project.create(MANIFEST, { m: { preset: 'llama2_7b', weights: 'safetensors' } });
    await writeFile(p.path('hf/m/model.safetensors'), Buffer.alloc(6 << 20, 3));
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let killedWhileRunning = 0;
    const { rm } = await import('node:fs/promises');
    for (let trial = 0; trial < 20; trial++) {
      // From scratch, or with the store kept and out/ gone (a restore), so there is work to kill.
      await rm(p.path('dist'), { recursive: true, force: true });
      if (trial % 2 === 0) await rm(p.path('.mlc-build'), { recursive: true, force: true });
      const child = spawn(process.execPath, [BIN], { cwd: p.dir, env: { ...process.env, ...p.env, ...env }, stdio: 'ignore' });
      const closed = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal))); // before the kill: it may finish first
      if (trial % 2 === 0) {
        // From scratch: wait until a step is running (its staging folder exists), then kill soon after.
        const tmp = p.path('.mlc-build/tmp');
        for (let i = 0; i < 250 && (await readdir(tmp).catch(() => [])).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, random() * 100));
      } else {
        await new Promise((r) => setTimeout(r, 100 + random() * 300)); // restoring from the store
      }
      child.kill('SIGKILL');
      if ((await closed) === 'SIGKILL' && trial % 2 === 0) killedWhileRunning++;
      const r = await p.run([], env);
      expect(r.code, r.stderr).toBe(0);
      expect(await tree(p.path('dist'))).toEqual(expected);
    }
    expect(killedWhileRunning).toBe(10); // every from-scratch trial was killed while a step ran
    // The steps the killed builds had started were stopped by the builds after them.
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('pgrep', ['-f', p.path('.mlc-build/tmp')], { encoding: 'utf8' }).stdout).toBe('');
  }, 240_000);
});
