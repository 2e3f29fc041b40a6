import { mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashFile } from '../../src/store/hash.js';
import { WatchSet } from '../../src/watch/watch-set.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlc-build-watchset-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const digest = (f: string) =>
  hashFile(f).then(
    (h) => h.digest,
    () => undefined,
  );

async function watching(files: Record<string, string>, dirs: string[] = [], excluded: string[] = []): Promise<WatchSet> {
  const set = new WatchSet(
    excluded.map((d) => join(dir, d)),
    digest,
  );
  for (const [name, body] of Object.entries(files)) {
    await writeFile(join(dir, name), body);
    set.addFile(join(dir, name), await digest(join(dir, name)));
  }
  set.addDirs(dirs.map((d) => join(dir, d)));
  return set;
}

describe('WatchSet.confirm', () => {
  it('a touch, an identical rewrite and a rename-over save of the same bytes are no change', async () => {
    const set = await watching({ 'config.json': '{"a":1}' });
    const f = join(dir, 'config.json');
    await utimes(f, new Date(0), new Date(0));
    await writeFile(f, '{"a":1}');
    await writeFile(join(dir, '.tmp'), '{"a":1}');
    await rename(join(dir, '.tmp'), f);
    expect(await set.confirm([f])).toEqual([]);
  });

  it('a changed file is reported once; changing it back is a change again', async () => {
    const set = await watching({ 'config.json': '{"a":1}' });
    const f = join(dir, 'config.json');
    await writeFile(f, '{"a":2}');
    expect(await set.confirm([f])).toEqual([f]);
    expect(await set.confirm([f])).toEqual([]);
    await writeFile(f, '{"a":1}');
    expect(await set.confirm([f])).toEqual([f]);
  });

  it('a file deleted, or created where the build found none, is a change', async () => {
    const set = await watching({ 'a.json': 'x' });
    set.addFile(join(dir, 'absent.json'), undefined);
    await rm(join(dir, 'a.json'));
    await writeFile(join(dir, 'absent.json'), 'now here');
    expect(await set.confirm([join(dir, 'a.json'), join(dir, 'absent.json')])).toEqual([join(dir, 'a.json'), join(dir, 'absent.json')].sort());
  });

  it("a watched folder's listing changes with a new file, not with an editor's scratch file", async () => {
    await mkdir(join(dir, 'model'));
    const set = await watching({}, ['model']);
    await writeFile(join(dir, 'model', '.config.json.swp'), 'swap');
    await writeFile(join(dir, 'model', 'config.json~'), 'backup');
    expect(await set.confirm([join(dir, 'model', '.config.json.swp'), join(dir, 'model', 'config.json~')])).toEqual([]);
    await writeFile(join(dir, 'model', 'model-00002.safetensors'), 'w');
    expect(await set.confirm([join(dir, 'model', 'model-00002.safetensors')])).toEqual([join(dir, 'model', 'model-00002.safetensors')]);
  });

  it('never watches what lies under an excluded folder (out/, the store, the HF cache)', async () => {
    await mkdir(join(dir, 'dist'));
    const set = await watching({ 'dist/lib.so': 'lib', 'mlc.build.yaml': 'v' }, ['dist'], ['dist']);
    expect(set.paths()).toEqual([join(dir, 'mlc.build.yaml')]);
    await writeFile(join(dir, 'dist/lib.so'), 'other');
    expect(await set.confirm([join(dir, 'dist/lib.so')])).toEqual([]);
  });

  it('a reported path it does not watch is no change', async () => {
    const set = await watching({ 'a.json': 'x' });
    await writeFile(join(dir, 'b.json'), 'y');
    expect(await set.confirm([join(dir, 'b.json')])).toEqual([]);
  });
});
