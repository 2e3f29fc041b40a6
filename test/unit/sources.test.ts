// Each source implementation against mlc.build.lock: here at the pinned commit (no network), or
// to be fetched; keys hold content, never paths.
import { createHash } from 'node:crypto';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { describe, expect, it } from 'vitest';
import { GitSource, gitCheckoutDir } from '../../src/sources/git.js';
import { hfHome, HubSource, hubCacheDir, hubToken, repoFolder } from '../../src/sources/hf.js';
import { LocalSource } from '../../src/sources/local.js';
import { readLock, type Lock } from '../../src/lockfile/lock-file.js';
import { updateLock } from '../../src/sources/source-pins.js';
import type { SourceDeps } from '../../src/sources/source.js';
import { freeBytes } from '../../src/store/free-space.js';
import { StatCache } from '../../src/store/stat-cache.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const COMMIT = 'c'.repeat(40);
const FILES = { 'config.json': '{"model_type":"llama"}', 'tokenizer.json': '{}', 'model.safetensors': 'weights' };

async function depsOf(dir: string, lock: Lock, update = false): Promise<SourceDeps> {
  const stats = await StatCache.load(join(dir, 'sc.json'));
  return {
    storeRoot: join(dir, 'store'),
    env: { HF_HUB_CACHE: join(dir, 'hub') },
    lock,
    update,
    digest: (p) => stats.digest(p),
    observe: () => {},
    rules: { include: [], exclude: [] },
  };
}

const pinned = (text: string, kind: 'hf' | 'git'): Lock => ({
  version: 1,
  sources: { [text]: { kind, revision: 'main', commit: COMMIT, files: Object.fromEntries(Object.entries(FILES).map(([n, c]) => [n, `sha256:${sha(c)}`])) } },
});

async function writeAll(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [n, c] of Object.entries(FILES)) await writeFile(join(dir, n), c);
}

describe('local folders', () => {
  it('are always here; the key follows the content, not the path', async () => {
    const dir = await tempDir('mlc-build-src-');
    await writeAll(join(dir, 'a'));
    const deps = await depsOf(dir, { version: 1, sources: {} });
    const meta = await new LocalSource('./a', join(dir, 'a'), deps).locate('meta');
    expect(meta.kind).toBe('here');
    await rename(join(dir, 'a'), join(dir, 'b'));
    const moved = await new LocalSource('./b', join(dir, 'b'), deps).locate('meta');
    if (meta.kind !== 'here' || moved.kind !== 'here') throw new Error('not here');
    expect(moved.found.key).toBe(meta.found.key);
    expect(Object.keys(meta.found.files).sort()).toEqual(['config.json', 'tokenizer.json']);
    await writeFile(join(dir, 'b', 'tokenizer.json'), '{"v":2}');
    const edited = await new LocalSource('./b', join(dir, 'b'), deps).locate('meta');
    expect(edited.kind === 'here' && edited.found.key).not.toBe(meta.found.key);
    expect((await new LocalSource('./none', join(dir, 'none'), deps).locate('meta')).kind).toBe('unavailable');
  });
});

describe('hf:// sources', () => {
  const text = 'hf://org/m';
  async function hubWith(files: Record<string, string>): Promise<string> {
    const dir = await tempDir('mlc-build-src-');
    const repo = repoFolder(join(dir, 'hub'), 'org/m');
    await mkdir(join(repo, 'blobs'), { recursive: true });
    await mkdir(join(repo, 'snapshots', COMMIT), { recursive: true });
    for (const [n, c] of Object.entries(files)) {
      await writeFile(join(repo, 'blobs', sha(c)), c);
      await symlink(join('..', '..', 'blobs', sha(c)), join(repo, 'snapshots', COMMIT, n));
    }
    return dir;
  }

  it('are here without the network when the pinned commit is in the HF cache, with the commit in key and pin', async () => {
    const dir = await hubWith(FILES);
    const got = await new HubSource(text, 'org/m', 'main', await depsOf(dir, pinned(text, 'hf'))).locate('weights');
    if (got.kind !== 'here') throw new Error(got.reason);
    expect(Object.keys(got.found.files)).toEqual(['model.safetensors']);
    expect(got.found.files['model.safetensors']?.path).toBe(join(repoFolder(join(dir, 'hub'), 'org/m'), 'blobs', sha('weights'))); // the blob, not the symlink
    expect(got.found.pin).toMatchObject({ part: 'weights', commit: COMMIT, revision: 'main' });
    expect(got.found.fields).toMatchObject({ commit: COMMIT });
  });

  it('must be fetched when not pinned, when --update asks, or when a pinned file is missing or differs', async () => {
    const dir = await hubWith(FILES);
    expect(await new HubSource(text, 'org/m', 'main', await depsOf(dir, { version: 1, sources: {} })).locate('meta')).toMatchObject({
      kind: 'fetch',
      reason: 'revision main, not yet resolved',
    });
    expect((await new HubSource(text, 'org/m', 'main', await depsOf(dir, pinned(text, 'hf'), true)).locate('meta')).kind).toBe('fetch');
    const partial = await hubWith({ 'config.json': FILES['config.json'] });
    expect(await new HubSource(text, 'org/m', 'main', await depsOf(partial, pinned(text, 'hf'))).locate('meta')).toMatchObject({
      kind: 'fetch',
      reason: `commit ${COMMIT.slice(0, 12)}, not yet downloaded`,
    });
    const other = await hubWith({ ...FILES, 'tokenizer.json': '{"other":1}' });
    expect((await new HubSource(text, 'org/m', 'main', await depsOf(other, pinned(text, 'hf'))).locate('meta')).kind).toBe('fetch');
  });

  it('say where their files are once pinned', async () => {
    const dir = await hubWith(FILES);
    expect(new HubSource(text, 'org/m', 'main', await depsOf(dir, pinned(text, 'hf'))).folder()).toBe(
      join(repoFolder(join(dir, 'hub'), 'org/m'), 'snapshots', COMMIT),
    );
    expect(new HubSource(text, 'org/m', 'main', await depsOf(dir, { version: 1, sources: {} })).folder()).toBeUndefined();
  });
});

describe('git+ sources', () => {
  const text = 'git+https://example.invalid/m#main';
  const serially = <T>(_k: string, fn: () => Promise<T>) => fn();

  it('are here when the pinned commit is checked out in the store, else must be fetched', async () => {
    const dir = await tempDir('mlc-build-src-');
    const deps = await depsOf(dir, pinned(text, 'git'));
    const source = new GitSource(text, 'https://example.invalid/m', 'main', deps, serially);
    expect((await source.locate('meta')).kind).toBe('fetch');
    await writeAll(gitCheckoutDir(deps.storeRoot, 'https://example.invalid/m', COMMIT));
    const got = await source.locate('meta');
    if (got.kind !== 'here') throw new Error(got.reason);
    expect(got.found.pin).toMatchObject({ commit: COMMIT, revision: 'main' });
    expect(source.folder()).toBe(gitCheckoutDir(deps.storeRoot, 'https://example.invalid/m', COMMIT));
    const updating = new GitSource(text, 'https://example.invalid/m', 'main', await depsOf(dir, pinned(text, 'git'), true), serially);
    expect((await updating.locate('meta')).kind).toBe('fetch');
  });
});

describe('mlc.build.lock', () => {
  const text = 'hf://org/m';
  const meta = (config: string) => ({ part: 'meta' as const, files: { 'config.json': sha(config), 'tokenizer.json': sha('{}') }, revision: 'main' });
  const lockOf = async (root: string) => (await readLock(root)).sources[text];

  it("keeps a part's pins while its commit stands, and drops them once the commit moved (never stale pins)", async () => {
    const root = await tempDir('mlc-build-lock-');
    const kinds = new Map([[text, 'hf' as const]]);
    const weights = { part: 'weights' as const, files: { 'model.safetensors': sha('weights') }, commit: COMMIT };
    await updateLock(root, kinds, new Map([[text, [{ ...meta('{"a":1}'), commit: COMMIT }, weights]]]));
    expect(Object.keys((await lockOf(root))?.files ?? {}).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    // A compile-only build reads the meta files alone: at the same commit, the weights' pins stay.
    await updateLock(root, kinds, new Map([[text, [{ ...meta('{"a":1}'), commit: COMMIT }]]]));
    expect((await lockOf(root))?.files['model.safetensors']).toBe(`sha256:${sha('weights')}`);
    // The revision moved (build --update, compile only): the weights' pins were the old commit's.
    const moved = 'd'.repeat(40);
    await updateLock(root, kinds, new Map([[text, [{ ...meta('{"a":2}'), commit: moved }]]]));
    expect(await lockOf(root)).toEqual({
      kind: 'hf',
      revision: 'main',
      commit: moved,
      files: { 'config.json': `sha256:${sha('{"a":2}')}`, 'tokenizer.json': `sha256:${sha('{}')}` },
    });
  });

  it('drops the sources the manifest no longer names, and keeps those this build did not resolve', async () => {
    const root = await tempDir('mlc-build-lock-');
    await updateLock(
      root,
      new Map([
        [text, 'hf' as const],
        ['hf://org/gone', 'hf' as const],
      ]),
      new Map([
        [text, [{ ...meta('{}'), commit: COMMIT }]],
        ['hf://org/gone', [{ ...meta('{}'), commit: COMMIT }]],
      ]),
    );
    expect(await updateLock(root, new Map([[text, 'hf' as const]]), new Map())).toBe(true);
    expect(Object.keys((await readLock(root)).sources)).toEqual([text]);
    expect(await updateLock(root, new Map([[text, 'hf' as const]]), new Map())).toBe(false); // unchanged: not written
  });
});

describe('the Hugging Face home and the free space where files go', () => {
  it('one HF_HOME for the hub cache and the token file, found as huggingface_hub finds it', async () => {
    expect(hfHome({ HF_HOME: '/h', XDG_CACHE_HOME: '/x', HOME: '/u' })).toBe('/h');
    expect(hfHome({ XDG_CACHE_HOME: '/x', HOME: '/u' })).toBe('/x/huggingface');
    expect(hfHome({ HOME: '/u' })).toBe('/u/.cache/huggingface');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
    expect(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' })).toBe('/c');
    const dir = await tempDir('mlc-build-hf-home-');
    await mkdir(join(dir, 'huggingface'), { recursive: true });
    await writeFile(join(dir, 'huggingface', 'token'), 'tok-123\n');
    expect(await hubToken({ XDG_CACHE_HOME: dir })).toBe('tok-123');
  });

  it('free space of a folder not made yet is that of its nearest existing parent', async () => {
    const dir = await tempDir('mlc-build-free-');
    const free = (await freeBytes(join(dir, 'not', 'yet', 'there'))) ?? 0;
    const parent = (await freeBytes(dir)) ?? 0;
    expect(free).toBeGreaterThan(0);
    expect(Math.abs(free - parent)).toBeLessThan(2 ** 30); // the same filesystem (others may write meanwhile)
  });
});
