import { describe, expect, it } from 'vitest';
import { formatBytes, parseAge, parseSize } from '../../src/manifest/units.js';
import { diagnosticsOf, manifestOf } from '../helpers/manifest.js';

describe('sizes and ages', () => {
  it('reads SI and IEC sizes and ages', () => {
    expect(parseSize('50GB')).toBe(50e9);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 2 ** 30);
    expect(parseSize('512')).toBe(512);
    expect(parseSize(1024)).toBe(1024);
    expect(parseSize('12 parsecs')).toBeUndefined();
    expect(parseAge('30d')).toBe(30 * 86400e3);
    expect(parseAge('12h')).toBe(12 * 3600e3);
    expect(parseAge('soon')).toBeUndefined();
    expect(formatBytes(1_234_567)).toBe('1.23 MB');
  });

  it('cache.max_size and cache.max_age in the manifest, and located errors for values that do not parse', () => {
    const base = `version: 1
models:
  M: { source: hf://a/b, conv_template: llama-2 }
quantizations: [q4f16_1]
targets: [android]
`;
    const m = manifestOf(`${base}cache: { path: store, max_size: 20GB, max_age: 14d }\n`);
    expect(m.cache).toBe('/project/store');
    expect(m.cacheLimits).toEqual({ maxSize: 20e9, maxAge: 14 * 86400e3 });
    const d = diagnosticsOf(`${base}cache: { max_size: lots, max_age: 3 fortnights }\n`);
    expect(d.map((x) => `${x.location?.line}:${x.location?.col} ${x.message}`)).toEqual([
      '6:20 max_size "lots" is not a size (write it like "50GB", "200GiB" or a number of bytes)',
      '6:35 max_age "3 fortnights" is not an age (write it like "30d", "12h", "2w")',
    ]);
  });
});
