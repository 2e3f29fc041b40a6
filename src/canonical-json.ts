// Sorted-key JSON: equal data, equal text. Keys, records and the lock are compared as text.
export function canonicalJson(value: unknown): string {
  // undefined, functions and symbols have no JSON text of their own: they read as null, as in an array.
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const hit = serialised.get(value);
  if (hit !== undefined) return hit;
  let text: string;
  if (Array.isArray(value)) {
    text = `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  } else {
    const obj = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort()) if (obj[k] !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
    text = `{${parts.join(',')}}`;
  }
  serialised.set(value, text);
  return text;
}

/**
 * Text of objects already serialised. Key objects share sub-objects (one config feeds many
 * compiles); callers never mutate an object after hashing it.
 */
const serialised = new WeakMap<object, string>();
