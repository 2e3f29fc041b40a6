// Model type inference as mlc_llm does it (support/auto_config.py detect_model_type):
// config.json["model_type"] (or ["model_config"]["model_type"]), one alias, never "architectures".
import { recipes } from '../recipes/index.js';
import { didYouMean } from '../manifest/suggest.js';
import { err, ok, type Result } from '../result.js';

export function detectModelType(config: unknown): Result<string, string> {
  const c = config as { model_type?: unknown; model_config?: { model_type?: unknown } } | null;
  const raw = c?.model_type ?? c?.model_config?.model_type;
  if (typeof raw !== 'string') {
    return err('config.json has no "model_type"; set model_type: in the manifest (passed to mlc_llm as --model-type)');
  }
  const { modelTypes, modelTypeAliases } = recipes();
  const name = modelTypeAliases[raw] ?? raw;
  if (!(name in modelTypes)) {
    return err(
      `config.json has model_type ${JSON.stringify(raw)}, which mlc_llm does not support${didYouMean(raw, Object.keys(modelTypes))}; set model_type: to one it does, if the architecture matches`,
    );
  }
  return ok(name);
}
