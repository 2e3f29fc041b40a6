#!/usr/bin/env node
// Regenerates recipes/{quantizations,conv-templates,model-types}.json from the
// mlc_llm facts folder (quantizations.json, conv_templates.json, model_types.json).
// The product reads only recipes/; run this when mlc_llm's registries change:
//   node scripts/import-mlc-facts.mjs <path-to-mlc-facts-folder>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const from = process.argv[2];
if (!from) {
  console.error('usage: node scripts/import-mlc-facts.mjs <folder with quantizations.json, conv_templates.json, model_types.json>');
  process.exit(2);
}
const read = (name) => JSON.parse(readFileSync(join(from, name), 'utf8'));
const write = (name, data) => writeFileSync(new URL(`../recipes/${name}`, import.meta.url), JSON.stringify(data, null, 2) + '\n');

const q = read('quantizations.json');
write('quantizations.json', {
  source: q.source,
  quantizations: q.quantizations.map((x) => ({
    name: x.name,
    kind: x.kind,
    model_dtype: x.model_dtype,
    group_size: x.group_size ?? null,
    // bits per linear weight on disk; kinds without a fixed figure get the table's approximation
    bits_per_weight_on_disk: x.bits_per_quantized_weight_on_disk ?? x.bits_per_weight_on_disk ?? approxBits(x.kind, x.name),
    quantize_embedding: x.quantize_embedding ?? false,
  })),
});

function approxBits(kind, name) {
  switch (kind) {
    case 'awq':
      return 4.16;
    case 'ft-quant':
      return 4;
    case 'per-tensor-quant':
    case 'block-scale-quant':
      return 8;
    default:
      throw new Error(`no bits per weight for ${name} (${kind})`);
  }
}

const c = read('conv_templates.json');
const registered = new Set(c.registered.names);
write('conv-templates.json', {
  source: c.source,
  registered: [...registered].sort(),
  // accepted by gen_config's argparse but not registered: gen_config then fails validation
  cli_only: c.cli_choices_gen_config.names.filter((n) => !registered.has(n)).sort(),
});

const m = read('model_types.json');
write('model-types.json', {
  source: m.source,
  aliases: m.aliases,
  models: Object.fromEntries(
    Object.entries(m.models).map(([name, v]) => [
      name,
      {
        config_class: v.config_class,
        model_task: v.model_task,
        source_formats: v.source_formats,
        supported_quant_kinds: v.supported_quant_kinds,
        config_fields: v.config_fields.map((f) => ({ name: f.name, type: f.type, required: f.required, default: f.default })),
      },
    ]),
  ),
});
console.log('recipes written');
