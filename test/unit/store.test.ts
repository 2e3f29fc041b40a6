import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { describe, expect, it } from 'vitest';
import { diffFields, keyOf } from '../../src/keys.js';
import { compileRelevantConfig } from '../../src/steps/compile.js';
import { place } from '../../src/store/materialize.js';
import { isPlaced, placeAll, type Placement } from '../../src/store/outputs.js';
import { StatCache } from '../../src/store/stat-cache.js';
import { Store } from '../../src/store/store.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const temp = () => tempDir('mlc-build-store-');

describe('stat cache', () => {
  it('trusts an unchanged file, re-hashes a changed one, and survives a reload', async () => {
    const dir = await temp();
    const f = join(dir, 'w.bin');
    const t = new Date(Date.UTC(2020, 0, 1)); // whole seconds: utimes can set it exactly
    await writeFile(f, 'one');
    await utimes(f, t, t);
    const cache = await StatCache.load(join(dir, 'sc.json'));
    expect((await cache.digest(f)).digest).toBe(sha('one'));
    await cache.save();
    // Same size and mtime but other bytes: the cache (rightly) cannot see it; --verify can.
    await writeFile(f, 'two');
    await utimes(f, t, t);
    const reloaded = await StatCache.load(join(dir, 'sc.json'));
    expect((await reloaded.digest(f)).digest).toBe(sha('one'));
    expect((await reloaded.digest(f, { verify: true })).digest).toBe(sha('two'));
    await writeFile(f, 'three!');
    expect((await reloaded.digest(f)).digest).toBe(sha('three!'));
  });
});

describe('store', () => {
  it('moves outputs into read-only blobs by digest, and records them last', async () => {
    const root = await temp();
    const store = await Store.open(join(root, 'cache'));
    const out = join(root, 'out');
    await mkdir(join(out, 'sub'), { recursive: true });
    await writeFile(join(out, 'a.json'), '{}');
    await writeFile(join(out, 'sub/b.bin'), 'bytes');
    const tree = await store.ingestDir(out);
    expect(tree).toEqual({ 'a.json': { digest: sha('{}'), size: 2 }, 'sub/b.bin': { digest: sha('bytes'), size: 5 } });
    expect((await stat(store.blobPath(sha('bytes')))).mode & 0o777).toBe(0o444);
    expect(await store.hasBlob(sha('bytes'))).toBe(true);
    expect(await store.getRecord('k')).toBeUndefined();
    await store.putRecord({ key: 'k', node: 'n', outputs: tree, durationMs: 1, createdAt: 'now' }, { step: 'x' });
    expect((await store.getRecord('k'))?.outputs).toEqual(tree);
    expect(await store.getFields('k')).toEqual({ step: 'x' });
  });

  it('treats a blob whose bytes changed as missing, and replaces it on the next ingest', async () => {
    const root = await temp();
    const store = await Store.open(join(root, 'cache'));
    const out = join(root, 'out');
    await mkdir(out);
    await writeFile(join(out, 'x'), 'good');
    await store.ingestDir(out);
    const blob = store.blobPath(sha('good'));
    await writeFile(blob, 'bad!', { mode: 0o644 }).catch(async () => {
      const { chmod } = await import('node:fs/promises');
      await chmod(blob, 0o644);
      await writeFile(blob, 'bad!');
    });
    expect(await store.hasBlob(sha('good'))).toBe(false);
    await writeFile(join(out, 'x'), 'good');
    await store.ingestDir(out);
    expect(await readFile(blob, 'utf8')).toBe('good');
    expect(await store.hasBlob(sha('good'))).toBe(true);
  });
});

describe('placing blobs', () => {
  it('places a blob (a link on one filesystem) and replaces what was there', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'blob'), 'content');
    await mkdir(join(dir, 'out'));
    await writeFile(join(dir, 'out/file'), 'old');
    const method = place(join(dir, 'blob'), join(dir, 'out/file'));
    expect(['reflink', 'hardlink', 'copy']).toContain(method);
    expect(await readFile(join(dir, 'out/file'), 'utf8')).toBe('content');
    place(join(dir, 'blob'), join(dir, 'new/deeper/file'));
    expect(await readFile(join(dir, 'new/deeper/file'), 'utf8')).toBe('content');
  });

  /** Three blobs in a store-like folder, and their placements into `out/w/`. */
  async function blobsFor(dir: string): Promise<Placement[]> {
    await mkdir(join(dir, 'cas'));
    return Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const src = join(dir, 'cas', sha(name));
        await writeFile(src, name);
        return { src, digest: sha(name), dest: join(dir, 'out/w', `${name}.bin`) };
      }),
    );
  }

  it('places a folder that does not exist whole: when a file cannot be placed, no folder and no temp are left', async () => {
    const dir = await temp();
    const placements = await blobsFor(dir);
    const stats = await StatCache.load(join(dir, 'sc.json'));
    await rm((placements[2] as Placement).src); // the last blob is gone: a bug, so an exception
    await expect(placeAll(stats, placements)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(dir, 'out'))).toEqual([]);
    await writeFile((placements[2] as Placement).src, 'c');
    expect((await placeAll(stats, placements)).ok).toBe(true);
    expect(await readdir(join(dir, 'out'))).toEqual(['w']);
    for (const p of placements) expect(await readFile(p.dest, 'utf8')).toBe(p.dest.slice(-5, -4));
    expect(await isPlaced(stats, placements, true)).toBe(true);
  });

  it('into a folder that exists, places only what is missing or differs, and keeps the files it did not place', async () => {
    const dir = await temp();
    const placements = await blobsFor(dir);
    const stats = await StatCache.load(join(dir, 'sc.json'));
    await mkdir(join(dir, 'out/w'), { recursive: true });
    await writeFile(join(dir, 'out/w/notes.txt'), 'mine');
    await writeFile(join(dir, 'out/w/b.bin'), 'edited');
    expect((await placeAll(stats, placements)).ok).toBe(true);
    expect((await readdir(join(dir, 'out/w'))).sort()).toEqual(['a.bin', 'b.bin', 'c.bin', 'notes.txt']);
    expect(await readFile(join(dir, 'out/w/b.bin'), 'utf8')).toBe('b');
    expect(await readFile(join(dir, 'out/w/notes.txt'), 'utf8')).toBe('mine');
    expect(await isPlaced(stats, placements, true)).toBe(true);
  });
});

describe('keys', () => {
  it('are canonical: key order does not matter, values do', () => {
    expect(keyOf({ a: 1, b: { c: 2, d: 3 } })).toBe(keyOf({ b: { d: 3, c: 2 }, a: 1 }));
    expect(keyOf({ a: 1 })).not.toBe(keyOf({ a: 2 }));
  });

  it('drop from mlc-chat-config.json exactly the fields compile ignores; unknown fields count', () => {
    const config = {
      model_type: 'llama',
      context_window_size: 768,
      conv_template: { name: 'LM' },
      temperature: 0.7,
      eos_token_id: 2,
      tokenizer_files: [],
      active_vocab_size: 32000,
      some_new_field: 1,
    };
    expect(compileRelevantConfig(config)).toEqual({ model_type: 'llama', context_window_size: 768, active_vocab_size: 32000, some_new_field: 1 });
  });

  it('diff field by field', () => {
    expect(diffFields({ a: 1, b: { c: 'x' }, t: 'a'.repeat(64) }, { a: 1, b: { c: 'y' }, t: 'b'.repeat(64), n: 2 })).toEqual([
      'b.c: "x" → "y"',
      'n: (none) → 2',
      `t: sha256:${'a'.repeat(12)}… → sha256:${'b'.repeat(12)}…`,
    ]);
  });
});
