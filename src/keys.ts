// Keys are data: a canonical JSON object of everything an output depends on (inputs' digests,
// options, toolchain, env), hashed once. `explain` diffs two such objects field by field, so it
// needs no code of its own per step kind.
import { canonicalJson } from './canonical-json.js';
import { sha256 } from './store/hash.js';

export type KeyFields = Record<string, unknown>;

export function keyOf(fields: KeyFields): string {
  return sha256(canonicalJson(fields));
}

/** Field-by-field differences between two key objects: `path: old → new`. */
export function diffFields(before: unknown, after: unknown, path = ''): string[] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffFields(before[k], after[k], path ? `${path}.${k}` : k));
  }
  const show = (v: unknown) =>
    v === undefined ? '(none)' : typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `sha256:${v.slice(0, 12)}…` : JSON.stringify(v);
  return [`${path || '(key)'}: ${show(before)} → ${show(after)}`];
}
