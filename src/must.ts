// Values the code's own invariants guarantee (a node's snapshot folder, a dependency's outputs):
// their absence is a bug in mlc-build, so it throws an error that names what was missing instead
// of a cast that would let `undefined` travel on.

export class InternalError extends Error {
  override readonly name = 'InternalError';
}

/** The map's value for `key`; a missing one is an internal error naming `what` it is. */
export function must<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
  const value = map.get(key);
  if (value === undefined) throw new InternalError(`internal: no ${what} for ${String(key)}`);
  return value;
}
