// Semantic checks on a well-shaped manifest: names against mlc_llm's registries, sources, matrix
// rules, naming templates. Each problem is a located diagnostic.
import { recipes } from '../recipes/index.js';
import { error, type Diagnostic } from './diagnostic.js';
import type { Rule } from './matrix.js';
import { checkSafeName } from './names.js';
import type { RawExclude, RawInclude, RawManifest } from './schema.js';
import type { ManifestSource, Path } from './source.js';
import { parseSource } from './source-spec.js';
import { didYouMean } from './suggest.js';
import { presetTarget } from './targets.js';
import type { CacheLimits, GenLayer, Model, Naming, Target } from './types.js';
import { parseAge, parseSize } from './units.js';

export const DEFAULT_NAMING: Naming = {
  weights: '{model}-{quant}{-tag}-MLC',
  library: '{model}-{quant}-{stem}.{ext}',
};
const PLACEHOLDERS = {
  weights: ['model', 'quant', 'tag', '-tag'],
  library: ['model', 'quant', 'tag', '-tag', 'target', 'stem', 'ext'],
} as const;

export function checkModels(raw: RawManifest, src: ManifestSource, root: string, diags: Diagnostic[]): Model[] {
  const r = recipes();
  const models: Model[] = [];
  for (const [id, m] of Object.entries(raw.models)) {
    const path: Path = ['models', id];
    const at = (key: string) => src.locate([...path, key]);
    const before = diags.length;
    checkSafeName(id, 'model id', src.locate(path, { key: true }), diags);
    const source = parseSource(m.source, root);
    if (typeof source === 'string') diags.push(error(source, at('source')));
    checkConvTemplate(m.conv_template, at('conv_template'), diags);
    if (m.model_type !== undefined && !(m.model_type in r.modelTypes)) {
      diags.push(error(`unknown model type ${JSON.stringify(m.model_type)}${didYouMean(m.model_type, Object.keys(r.modelTypes))}`, at('model_type')));
    }
    if (m.source_format !== undefined) {
      if (!r.sourceFormats.includes(m.source_format)) {
        diags.push(
          error(
            `unknown source format ${JSON.stringify(m.source_format)}${didYouMean(m.source_format, r.sourceFormats)}; valid: ${r.sourceFormats.join(', ')}`,
            at('source_format'),
          ),
        );
      } else if (m.model_type !== undefined && r.modelTypes[m.model_type] && !r.modelTypes[m.model_type]?.source_formats.includes(m.source_format)) {
        diags.push(
          error(
            `model type ${JSON.stringify(m.model_type)} cannot load source format ${JSON.stringify(m.source_format)} (it reads ${r.modelTypes[m.model_type]?.source_formats.join(', ')})`,
            at('source_format'),
          ),
        );
      }
    }
    if (diags.length > before || typeof source === 'string') continue;
    models.push({
      id,
      source,
      convTemplate: m.conv_template,
      modelType: m.model_type,
      sourceFormat: m.source_format,
      config: m.config ?? {},
      download: {
        include: [...(raw.download?.include ?? []), ...(m.download?.include ?? [])],
        exclude: [...(raw.download?.exclude ?? []), ...(m.download?.exclude ?? [])],
      },
      path,
    });
  }
  return models;
}

function checkConvTemplate(name: string, at: ReturnType<ManifestSource['locate']>, diags: Diagnostic[]): void {
  const { registered, cli_only } = recipes().convTemplates;
  if (registered.includes(name)) return;
  if (cli_only.includes(name)) {
    diags.push(
      error(
        `conv template ${JSON.stringify(name)} passes mlc_llm's argument check but is not registered, so gen_config fails${didYouMean(name, registered)}`,
        at,
      ),
    );
    return;
  }
  diags.push(error(`unknown conv template ${JSON.stringify(name)}${didYouMean(name, registered)}`, at));
}

/** `listed`: quantizations the manifest already lists (never suggested). */
export function unknownQuantization(name: string, listed: readonly string[] = []): string {
  const names = recipes().quantizations.map((q) => q.name);
  return `unknown quantization ${JSON.stringify(name)}${didYouMean(name, names, listed)}; valid: ${names.join(', ')}`;
}

export function checkQuantizations(raw: RawManifest, src: ManifestSource, diags: Diagnostic[]): string[] {
  const known = new Set(recipes().quantizations.map((q) => q.name));
  const out: string[] = [];
  raw.quantizations.forEach((q, i) => {
    if (!known.has(q)) diags.push(error(unknownQuantization(q, raw.quantizations), src.locate(['quantizations', i])));
    else if (out.includes(q)) diags.push(error(`quantization ${JSON.stringify(q)} is listed twice`, src.locate(['quantizations', i])));
    else out.push(q);
  });
  return out;
}

export interface MatrixRules {
  exclude: Rule[];
  include: (Rule & { config: GenLayer; path: Path })[];
  /** Presets that only includes name: they join the target table. */
  extraTargets: Target[];
}

export function checkMatrixRules(raw: RawManifest, src: ManifestSource, targets: Target[], diags: Diagnostic[]): MatrixRules {
  const modelIds = Object.keys(raw.models);
  const quantNames = recipes().quantizations.map((q) => q.name);
  const targetNames = new Set(targets.map((t) => t.name));
  const extraTargets: Target[] = [];

  const toRule = (entry: RawExclude | RawInclude, path: Path): Rule => {
    if (entry.quant !== undefined && entry.quantization !== undefined) {
      diags.push(error('set quant or quantization, not both', src.locate([...path, 'quantization'], { key: true })));
    }
    const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
    const quantKey = entry.quant !== undefined ? 'quant' : 'quantization';
    const rule: Rule = { model: list(entry.model), quant: list(entry.quant ?? entry.quantization), target: list(entry.target) };
    const at = (key: string, i: number) => {
      const v = entry[key as keyof RawExclude];
      return src.locate(Array.isArray(v) ? [...path, key, i] : [...path, key]);
    };
    rule.model?.forEach((m, i) => {
      if (!modelIds.includes(m))
        diags.push(error(`unknown model ${JSON.stringify(m)}${didYouMean(m, modelIds)} (models are declared under models:)`, at('model', i)));
    });
    rule.quant?.forEach((q, i) => {
      if (!quantNames.includes(q)) diags.push(error(unknownQuantization(q), at(quantKey, i)));
    });
    rule.target?.forEach((t, i) => {
      if (targetNames.has(t)) return;
      const preset = presetTarget(t);
      if (preset) {
        targetNames.add(t);
        extraTargets.push(preset);
      } else {
        const known = [...targetNames, ...Object.keys(recipes().targetPresets)];
        diags.push(error(`unknown target ${JSON.stringify(t)}${didYouMean(t, known)}`, at('target', i)));
      }
    });
    const namesCells = rule.model !== undefined || rule.quant !== undefined || rule.target !== undefined;
    if (!namesCells && !('config' in entry && entry.config !== undefined)) {
      diags.push(error('a matrix rule must name a model, quant or target', src.locate(path)));
    }
    return rule;
  };

  const exclude = (raw.matrix?.exclude ?? []).map((e, i) => toRule(e, ['matrix', 'exclude', i]));
  const include = (raw.matrix?.include ?? []).map((e, i) => {
    const path: Path = ['matrix', 'include', i];
    return { ...toRule(e, path), config: e.config ?? {}, path };
  });
  return { exclude, include, extraTargets };
}

export function checkNaming(raw: RawManifest, src: ManifestSource, diags: Diagnostic[]): Naming {
  const naming = { ...DEFAULT_NAMING, ...raw.naming };
  for (const kind of ['weights', 'library'] as const) {
    const allowed: readonly string[] = PLACEHOLDERS[kind];
    for (const [, name] of naming[kind].matchAll(/\{([^}]*)\}/g)) {
      if (name !== undefined && !allowed.includes(name)) {
        diags.push(
          error(
            `unknown placeholder {${name}} in naming.${kind}${didYouMean(name, allowed)}; allowed: ${allowed.map((a) => `{${a}}`).join(' ')}`,
            src.locate(['naming', kind]),
          ),
        );
      }
    }
    if (!naming[kind].includes('{model}')) diags.push(error(`naming.${kind} must contain {model}`, src.locate(['naming', kind])));
    if (/[/\\]/.test(naming[kind].replace(/\{[^}]*\}/g, '')))
      diags.push(error(`naming.${kind} must name a file, not a path (no "/")`, src.locate(['naming', kind])));
  }
  return naming;
}

/** `cache.max_size` and `cache.max_age`, parsed; a value that does not parse is an error at it. */
export function checkCacheLimits(raw: RawManifest, src: ManifestSource, diags: Diagnostic[]): CacheLimits {
  if (raw.cache === undefined || typeof raw.cache === 'string') return {};
  const limits: CacheLimits = {};
  const { max_size: size, max_age: age } = raw.cache;
  if (size !== undefined) {
    limits.maxSize = parseSize(size);
    if (limits.maxSize === undefined)
      diags.push(
        error(`max_size ${JSON.stringify(size)} is not a size (write it like "50GB", "200GiB" or a number of bytes)`, src.locate(['cache', 'max_size'])),
      );
  }
  if (age !== undefined) {
    limits.maxAge = parseAge(age);
    if (limits.maxAge === undefined)
      diags.push(error(`max_age ${JSON.stringify(age)} is not an age (write it like "30d", "12h", "2w")`, src.locate(['cache', 'max_age'])));
  }
  return limits;
}
