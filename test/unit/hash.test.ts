// Hashing files: on the calling thread (small files) or in the worker threads (large ones, read in
// chunks while the chunk before is hashed), one after another or many at once — the same sha256
// as hashing the whole bytes at once, and a missing file is the same error either way.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashFile, HashPool, POOLED_BYTES } from '../../src/store/hash.js';
import { tempDir } from '../helpers/cli.js';

const MiB = 1024 * 1024;

/** Bytes that differ from chunk to chunk (a chunk hashed twice or skipped changes the digest). */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(Math.ceil(size / 4) * 4);
  let x = seed;
  for (let i = 0; i < out.length; i += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, size);
}

const whole = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('hashFile', () => {
  // Around the 1 MiB read chunk and the size from which the worker threads hash.
  const sizes = [0, 1, MiB - 1, MiB, MiB + 1, POOLED_BYTES - 1, POOLED_BYTES, POOLED_BYTES + 3 * MiB + 7];

  it('gives the digest and size of the whole bytes, one file after another and all at once', async () => {
    const dir = await tempDir('mlc-build-hash-');
    const files = await Promise.all(
      sizes.map(async (size, i) => {
        const path = join(dir, `f${i}.bin`);
        await writeFile(path, bytes(size, i + 1));
        return { path, size, digest: await whole(path) };
      }),
    );
    const serial = [];
    for (const f of files) serial.push(await hashFile(f.path));
    const parallel = await Promise.all(files.map((f) => hashFile(f.path)));
    const want = files.map((f) => ({ digest: f.digest, size: f.size }));
    expect(serial).toEqual(want);
    expect(parallel).toEqual(want);
  });

  it('a pool of one thread and of four give the same digests for many large files at once', async () => {
    const dir = await tempDir('mlc-build-hash-');
    const files = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const path = join(dir, `s${i}.bin`);
        await writeFile(path, bytes(2 * MiB + i * 4099, 100 + i));
        return path;
      }),
    );
    const want = await Promise.all(files.map(whole));
    for (const threads of [1, 4]) {
      const pool = new HashPool(threads);
      expect((await Promise.all(files.map((f) => pool.hash(f)))).map((d) => d.digest)).toEqual(want);
    }
  });

  it('a missing file is an ENOENT error naming it, on the calling thread and in the pool', async () => {
    const dir = await tempDir('mlc-build-hash-');
    const missing = join(dir, 'gone.bin');
    await expect(hashFile(missing)).rejects.toMatchObject({ code: 'ENOENT', path: missing });
    await expect(new HashPool(1).hash(missing)).rejects.toMatchObject({ code: 'ENOENT', path: missing });
  });
});
