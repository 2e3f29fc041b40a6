// Settings layering: later layers win, `null` removes a value set below.
import { GEN_OPTION_KEYS, type GenLayer, type GenOptions } from './types.js';

export function layer(...layers: readonly (GenLayer | undefined)[]): GenOptions {
  const merged: GenLayer = {};
  for (const l of layers) {
    if (!l) continue;
    for (const key of GEN_OPTION_KEYS) {
      if (key in l && l[key] !== undefined) merged[key] = l[key];
    }
  }
  const out: GenOptions = {};
  for (const key of GEN_OPTION_KEYS) {
    const v = merged[key];
    // gen_config's --disaggregation is `type=bool`: any value passed means True, so false = unset.
    if (v === null || v === undefined || v === false) continue;
    out[key] = v;
  }
  return out;
}
