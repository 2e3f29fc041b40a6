// Sizes and ages as users write them in the manifest and on the command line: "20GB", "512MiB",
// "30d", "12h". SI prefixes are powers of 1000 and IEC ones powers of 1024, as df -H and df -h say.

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const AGE_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Bytes, from a number or "<number><unit>" (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[(m?.[2] || 'b').toLowerCase()];
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : undefined;
}

/** Milliseconds, from "<number><unit>" (s, m, h, d, w). */
export function parseAge(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  const unit = AGE_UNITS[(m?.[2] ?? '').toLowerCase()];
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
