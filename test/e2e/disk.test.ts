// The user's disk is not a bug: out/ or the store on a small tmpfs that fills up, or mounted
// read-only. The build says what failed, where and why, exits 1 (2 when found before any step
// runs), leaves no half-written file, and the next build after freeing space re-runs nothing that
// had finished.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canMount, Tmpfs } from '../helpers/mount.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  A: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [cuda, vulkan, android]
`;
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const } };

function lacksMount(): boolean {
  const probe = canMount();
  if (probe.ok) return false;
  if (process.env.CI) throw new Error(`${probe.why}: CI runs as root and must run the disk tests`);
  return true;
}

/** Every file under `dir`: path relative to it → sha256. */
async function tree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    files.set(
      relative(dir, abs),
      createHash('sha256')
        .update(await readFile(abs))
        .digest('hex'),
    );
  }
  return files;
}

/** Node ids with a plain log line of this status ("  ran     compile:…"). */
function nodesLogged(stderr: string, status: 'ran' | 'cached'): string[] {
  return [...stderr.matchAll(new RegExp(`^  ${status} +(\\S+) \\(`, 'gm'))].map((m) => m[1] ?? '');
}

const NO_STACK = /\n\s+at .*\.(m?js|ts):\d+/;

describe.skipIf(lacksMount())('a full or read-only disk (tmpfs mounts)', () => {
  const mounts: Tmpfs[] = [];
  afterEach(() => {
    for (const m of mounts.splice(0)) m.unmount();
  });

  it('out/ fills up mid-build: exit 1 naming the path, earlier outputs intact, nothing half-written; after growing it the next build re-runs nothing that had finished', async () => {
    const reference = await Project.create(MANIFEST, MODELS);
    expect((await reference.run()).code).toBe(0);
    const want = await tree(reference.path('dist'));

    const p = await Project.create(MANIFEST, MODELS);
    // Room for the libraries and configs, not for the converted weights as well.
    const out = new Tmpfs(p.path('dist')).mount(64 * 1024);
    mounts.push(out);
    const first = await p.run(['-j', '1']);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/FAILED {2}\S+: placing its outputs in out\/: no space left on the device at \S*\/dist\//);
    expect(first.stderr).toContain('what to do: free some space');
    expect(first.stderr).not.toMatch(NO_STACK);
    expect(first.stderr).not.toContain('internal error');
    const left = await tree(p.path('dist'));
    expect([...left.keys()].filter((f) => f.includes('.mlc-build-'))).toEqual([]);
    for (const [file, digest] of left) expect(digest, file).toBe(want.get(file));

    out.resize(4 << 20);
    const second = await p.run(['-j', '1']);
    expect(second.code, second.stderr).toBe(0);
    const ranBefore = new Set([...nodesLogged(first.stderr, 'ran'), ...[...first.stderr.matchAll(/^FAILED {2}(\S+): placing/gm)].map((m) => m[1])]);
    expect(ranBefore.size).toBeGreaterThan(0);
    expect(nodesLogged(second.stderr, 'ran').filter((n) => ranBefore.has(n))).toEqual([]);
    // What failed to be placed was recorded in the store: restored, not run again.
    for (const m of first.stderr.matchAll(/^FAILED {2}(\S+): placing/gm)) expect(nodesLogged(second.stderr, 'cached')).toContain(m[1]);
    expect(await tree(p.path('dist'))).toEqual(want);
  });

  it('out/ on a read-only mount: exit 2 naming the folder, before any step runs', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const out = new Tmpfs(p.path('dist')).mount(1 << 20);
    mounts.push(out);
    out.readOnly(true);
    const r = await p.run();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/output folder dist: it is on a read-only filesystem/);
    expect(r.stderr).toContain('read-only');
    expect(r.stderr).not.toMatch(NO_STACK);
    expect(r.calls).toEqual([]);
  });

  it('the store on a read-only mount: exit 2 naming the folder, not an internal error', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const store = new Tmpfs(p.path('.mlc-build')).mount(1 << 20);
    mounts.push(store);
    store.readOnly(true);
    const r = await p.run();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(p.path('.mlc-build'));
    expect(r.stderr).toContain('read-only');
    expect(r.stderr).not.toMatch(NO_STACK);
    expect(r.stderr).not.toContain('internal error');
    expect(r.calls).toEqual([]);
  });

  it('the store fills up mid-build: exit 1 saying no space is left, not an internal error; after growing it the build completes', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const store = new Tmpfs(p.path('.mlc-build')).mount(160 * 1024);
    mounts.push(store);
    const first = await p.run(['-j', '1']);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/no space left|ENOSPC/);
    expect(first.stderr).not.toContain('internal error');
    expect(first.stderr).not.toMatch(NO_STACK);
    store.resize(8 << 20);
    const second = await p.run(['-j', '1']);
    expect(second.code, second.stderr).toBe(0);
  });
});
