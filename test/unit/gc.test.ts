import { describe, expect, it } from 'vitest';
import { ORPHAN_GRACE_MS, planGc, type BlobInfo, type Inventory } from '../../src/store/gc.js';

const DAY = 86400e3;
const NOW = 100 * DAY;
const d = (c: string) => c.repeat(64);
const blob = (size: number, nlink = 1, mtime = 0): BlobInfo => ({ size, nlink, mtime });

function inv(): Inventory {
  return {
    records: [
      { key: 'old', node: 'convert:A/q', blobs: [d('a'), d('s')], lastUsed: NOW - 40 * DAY },
      { key: 'mid', node: 'convert:B/q', blobs: [d('b'), d('s')], lastUsed: NOW - 20 * DAY },
      { key: 'new', node: 'compile:C/q/cuda', blobs: [d('c')], lastUsed: NOW - 1 * DAY },
      { key: 'current', node: 'compile:D/q/cuda', blobs: [d('e')], lastUsed: NOW - 90 * DAY },
    ],
    blobs: new Map([
      [d('a'), blob(100)],
      [d('b'), blob(200, 2)],
      [d('s'), blob(10)],
      [d('c'), blob(50)],
      [d('e'), blob(1000)],
      [d('f'), blob(7, 1, NOW - 2 * ORPHAN_GRACE_MS)], // no record refers to it, and it is old
      [d('9'), blob(7, 1, NOW - 60_000)], // no record yet: a running build may be about to write one
    ]),
  };
}

describe('gc plan', () => {
  it('without limits removes only old blobs no record refers to', () => {
    const p = planGc(inv(), { keep: new Set(), all: false, now: NOW });
    expect(p.records).toEqual([]);
    expect(p.blobs).toEqual([d('f')]);
    expect(p.freed).toBe(7);
  });

  it('removes least recently used records first until under max_size; a blob goes with its last record', () => {
    const p = planGc(inv(), { maxSize: 1200, keep: new Set(['current']), all: false, now: NOW });
    // 1374 bytes: dropping the orphan (7) and "old" (a: 100; s is shared with "mid") gives 1267, then "mid" (b, s) 1057.
    expect(p.records.map((r) => r.key)).toEqual(['old', 'mid']);
    expect(p.blobs.sort()).toEqual([d('a'), d('b'), d('f'), d('s')].sort());
    expect(p.sizeAfter).toBe(1057);
    expect(p.freed).toBe(7 + 100 + 10); // b is still linked from out/: deleting it frees nothing
    expect(p.stillLinked).toBe(200);
    expect(p.overLimit).toBe(false);
  });

  it("never removes the current manifest's records unless all; says when that leaves the store over the limit", () => {
    const kept = planGc(inv(), { maxSize: 0, keep: new Set(['current']), all: false, now: NOW });
    expect(kept.records.map((r) => r.key)).toEqual(['old', 'mid', 'new']);
    expect(kept.overLimit).toBe(true);
    const all = planGc(inv(), { maxSize: 0, keep: new Set(['current']), all: true, now: NOW });
    expect(all.records.map((r) => r.key)).toEqual(['current', 'old', 'mid', 'new']);
    expect(all.sizeAfter).toBe(7); // only the young orphan stays
  });

  it('max_age removes records unused for longer, whatever the size', () => {
    const p = planGc(inv(), { maxAge: 30 * DAY, keep: new Set(['current']), all: false, now: NOW });
    expect(p.records.map((r) => r.key)).toEqual(['old']);
  });
});

describe('gc roots (the wheels the lock pins)', () => {
  const old = { size: 100, nlink: 1, mtime: 0 };
  const blobs = new Map([
    ['a'.repeat(64), old],
    ['b'.repeat(64), old],
  ]);
  it('keeps a root however old and however small the limit; --all with a limit drops it', () => {
    const roots = new Set(['a'.repeat(64)]);
    const kept = planGc({ records: [], blobs }, { maxSize: 0, keep: new Set(), roots, all: false, now: 10 * ORPHAN_GRACE_MS });
    expect(kept.blobs).toEqual(['b'.repeat(64)]);
    const all = planGc({ records: [], blobs }, { maxSize: 0, keep: new Set(), roots, all: true, now: 10 * ORPHAN_GRACE_MS });
    expect(all.blobs.sort()).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
  });
});
