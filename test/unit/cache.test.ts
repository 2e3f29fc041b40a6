// The layered cache: the local store first, then other providers; a hit elsewhere fills the local
// store, verified; a result whose blobs are missing or corrupt is a miss.
import { chmod, copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { describe, expect, it } from 'vitest';
import { foundOrMiss, LayeredCache, MISS, type CacheProvider } from '../../src/store/cache.js';
import { hashFile } from '../../src/store/hash.js';
import { Store } from '../../src/store/store.js';

/** Another store as a provider, with some of its answers replaced. */
function provider(store: Store, name = store.name, replace: Partial<CacheProvider> = {}): CacheProvider {
  return {
    name,
    label: name,
    warn: () => {},
    getRecord: async (k) => foundOrMiss(await store.getRecord(k)),
    getFields: (k) => store.getFields(k),
    hasBlob: (d) => store.hasBlob(d),
    saveBlob: async ({ digest }, path) => {
      if (!(await store.hasBlob(digest))) return MISS;
      await copyFile(store.blobPath(digest), path);
      return { kind: 'found', value: (await hashFile(path)).digest };
    },
    providerStats: () => ({ server: name, fetchedBytes: 0, uploadedBytes: 0, uploadFailures: 0, uploads: 0 }),
    close: async () => {},
    ...replace,
  };
}

async function storeWith(result?: { key: string; content: string }): Promise<Store> {
  const store = await Store.open(await tempDir('mlc-build-cache-'));
  if (result) {
    const dir = await tempDir('mlc-build-out-');
    await writeFile(join(dir, 'lib.so'), result.content);
    const outputs = await store.ingestDir(dir);
    await store.putRecord({ key: result.key, node: 'compile:M/q/cuda', outputs, durationMs: 5, createdAt: '2026-01-01T00:00:00Z' }, { step: 'compile' });
  }
  return store;
}

const KEY = 'a'.repeat(64);

describe('layered cache', () => {
  it('a hit in the second provider fills the first; the next lookup is local', async () => {
    const local = await storeWith();
    const other = await storeWith({ key: KEY, content: 'library bytes' });
    const cache = new LayeredCache(local, [provider(other)]);
    const hit = await cache.lookup(KEY, { verify: false });
    expect(hit?.from).toBe(other.name);
    expect(hit?.local).toBeUndefined();
    const restored = await hit?.restore();
    if (!restored?.ok) throw new Error('not restored');
    expect(await readFile((restored.value['lib.so'] as { path: string }).path, 'utf8')).toBe('library bytes');
    expect(restored.value['lib.so']?.path.startsWith(local.root)).toBe(true);
    expect(await local.getFields(KEY)).toEqual({ step: 'compile' });
    expect((await cache.lookup(KEY, { verify: false }))?.from).toBe('local');
  });

  it('a corrupt blob is a miss: locally (verified), and from another provider (refused while written)', async () => {
    const local = await storeWith({ key: KEY, content: 'library bytes' });
    const record = await local.getRecord(KEY);
    const blob = local.blobPath(Object.values(record?.outputs ?? {})[0]?.digest as string);
    await chmod(blob, 0o644);
    await writeFile(blob, 'library bytez');
    expect(await new LayeredCache(local).lookup(KEY, { verify: true })).toBeUndefined();

    const fresh = await storeWith();
    const hit = await new LayeredCache(fresh, [provider(local)]).lookup(KEY, { verify: false });
    // The provider's own stat cache saw the write: its blob no longer counts, so it is a miss too.
    expect(hit).toBeUndefined();
  });

  it('bytes that do not match their digest never enter the local store', async () => {
    const other = await storeWith({ key: KEY, content: 'library bytes' });
    const record = await other.getRecord(KEY);
    const digest = Object.values(record?.outputs ?? {})[0]?.digest as string;
    // A provider that lies: it says it has the blob and sends other bytes.
    const liar = provider(other, 'liar', {
      hasBlob: () => Promise.resolve(true),
      saveBlob: async (_blob, path) => {
        await writeFile(path, 'not the library');
        return { kind: 'found', value: (await hashFile(path)).digest };
      },
    });
    const local = await storeWith();
    const hit = await new LayeredCache(local, [liar]).lookup(KEY, { verify: false });
    const restored = await hit?.restore();
    expect(restored?.ok).toBe(false);
    expect(await local.hasBlob(digest)).toBe(false);
    expect(await local.getRecord(KEY)).toBeUndefined();
  });

  it('a result naming a blob the provider lacks is a miss', async () => {
    const other = await storeWith({ key: KEY, content: 'library bytes' });
    const liar = provider(other, 'gaps', { hasBlob: () => Promise.resolve(false), saveBlob: () => Promise.resolve(MISS) });
    expect(await new LayeredCache(await storeWith(), [liar]).lookup(KEY, { verify: false })).toBeUndefined();
  });
});
