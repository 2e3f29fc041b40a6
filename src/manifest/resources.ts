// The manifest's `resources:` in the shape the scheduler reads: pool sizes apart from step kinds.
import { NODE_KINDS } from '../steps/names.js';
import { POOL_NAMES } from '../recipes/index.js';
import type { RawManifest } from './schema.js';
import type { Resources } from './types.js';

export function resourcesOf(raw: RawManifest): Resources {
  const r = raw.resources ?? {};
  const resources: Resources = { pools: {}, steps: {} };
  for (const pool of POOL_NAMES) if (r[pool] !== undefined) resources.pools[pool] = r[pool];
  for (const kind of NODE_KINDS) if (r[kind] !== undefined) resources.steps[kind] = r[kind];
  return resources;
}
