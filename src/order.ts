/** Code-point order: the same on every machine, whatever its locale (sorted outputs, shards, jobs). */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
