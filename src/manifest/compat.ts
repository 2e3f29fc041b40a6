// Model × quantization pairs mlc_llm cannot build (it would fail with a KeyError deep in
// convert_weight), checked for every pair the matrix keeps.
import { recipes } from '../recipes/index.js';
import { error, type Diagnostic } from './diagnostic.js';
import type { Path } from './source.js';
import type { Manifest } from './types.js';

/** `modelTypes`: the model type of each model id whose type is known before anything runs. */
export function checkModelQuantizations(manifest: Manifest, modelTypes: ReadonlyMap<string, string>): Diagnostic[] {
  const r = recipes();
  const diags: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const cell of manifest.cells) {
    const pair = `${cell.model}/${cell.quant}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    const quant = r.quantizations.find((q) => q.name === cell.quant);
    const model = manifest.models.find((m) => m.id === cell.model);
    const type = modelTypes.get(cell.model);
    if (!quant || !model) continue;
    const at = manifest.source.locate(quantPath(manifest, cell.quant, cell.includes));
    const info = type === undefined ? undefined : r.modelTypes[type];
    if (info && !info.supported_quant_kinds.includes(quant.kind)) {
      const ok = r.quantizations.filter((q) => info.supported_quant_kinds.includes(q.kind)).map((q) => q.name);
      diags.push(
        error(
          `model ${JSON.stringify(model.id)} (model type ${type}) cannot be quantized with ${quant.name} (${quant.kind}); mlc_llm supports ${type} with: ${ok.join(', ')}`,
          at,
        ),
      );
    } else if (quant.kind === 'awq' && model.sourceFormat !== 'awq') {
      diags.push(error(`model ${JSON.stringify(model.id)}: ${quant.name} converts AWQ checkpoints; set source_format: awq on the model`, at));
    }
  }
  return diags;
}

/** Where a quantization is named: the quantizations list, else the include that added it. */
function quantPath(manifest: Manifest, quant: string, includes: number[]): Path {
  const i = manifest.quantizations.indexOf(quant);
  if (i !== -1) return ['quantizations', i];
  const inc = includes[0];
  return inc === undefined ? ['quantizations'] : ['matrix', 'include', inc];
}
