import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchema } from '../../src/manifest/json-schema.js';

describe('JSON Schema in schema/', () => {
  it('is the one generated from the manifest schema (run `npm run schema` after changing it)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../schema/mlc.build.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(manifestJsonSchema())));
  });

  it('forbids unknown keys and lists mlc_llm names for completion', () => {
    const s = manifestJsonSchema() as { additionalProperties: boolean; required: string[]; properties: Record<string, { items?: { examples?: string[] } }> };
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toEqual(['version', 'models', 'quantizations', 'targets']);
    expect(s.properties.quantizations?.items?.examples).toContain('q4f16_1');
  });
});
