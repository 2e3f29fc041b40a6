#!/usr/bin/env node
// Writes schema/mlc.build.schema.json from the zod schema (run `npm run schema` after changing it).
import { writeFileSync } from 'node:fs';
import { manifestJsonSchema } from '../lib/manifest/json-schema.js';

writeFileSync(new URL('../schema/mlc.build.schema.json', import.meta.url), JSON.stringify(manifestJsonSchema(), null, 2) + '\n');
console.log('schema/mlc.build.schema.json written');
