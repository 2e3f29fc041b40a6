// The manifest's JSON Schema for editors (yaml-language-server), generated from the zod schema and
// completed with the names mlc_llm knows, so editors can suggest them.
import { z } from 'zod';
import { recipes } from '../recipes/index.js';
import { ManifestSchema } from './schema.js';

type Json = { [k: string]: unknown };

export function manifestJsonSchema(): Json {
  const schema = z.toJSONSchema(ManifestSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const r = recipes();
  const props = schema.properties as Record<string, Json>;
  schema.$id = 'https://mlc-build.dev/schema/mlc.build.schema.json';
  schema.title = 'mlc-build manifest (mlc.build.yaml)';
  const quantItems = props.quantizations?.items as Json;
  quantItems.examples = r.quantizations.map((q) => q.name);
  const models = props.models as Json;
  const model = (models.additionalProperties ?? {}) as Record<string, Record<string, Json>>;
  if (model.properties?.conv_template) model.properties.conv_template.examples = r.convTemplates.registered;
  if (model.properties?.model_type) model.properties.model_type.examples = Object.keys(r.modelTypes);
  const targetItems = props.targets?.items as { anyOf?: Json[] };
  const presetBranch = targetItems.anyOf?.[0];
  if (presetBranch) presetBranch.examples = Object.keys(r.targetPresets);
  return schema;
}
