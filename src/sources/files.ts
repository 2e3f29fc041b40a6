// Which files of a model repository the steps read (FACTS.md §1.2 step 6, §1.1): the small `meta`
// files gen_config reads, and the weights convert_weight reads; `download:` globs adjust it.
import picomatch from 'picomatch';
import { posix } from 'node:path';
export const META_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.model',
  'tokenizer.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

export function isMetaFile(name: string): boolean {
  return META_FILES.includes(name) || /^rwkv_vocab_v\d+\.(json|txt)$/.test(name) || name.endsWith('.tiktoken');
}

export function isWeightFile(name: string): boolean {
  return /\.(safetensors|bin)$/.test(name) || name === 'model.safetensors.index.json' || name === 'pytorch_model.bin.index.json';
}

export interface FileRules {
  include: string[];
  exclude: string[];
}

/** The part a file belongs to: weights if it looks like one, else the small meta files. */
export function partOf(path: string): 'meta' | 'weights' {
  return isWeightFile(posix.basename(path)) ? 'weights' : 'meta';
}

/** The default selection of a part, plus `include` matches of that part, minus `exclude` matches. */
export function applyRules(all: readonly string[], part: 'meta' | 'weights', selected: readonly string[], rules: FileRules): string[] {
  if (rules.include.length === 0 && rules.exclude.length === 0) return [...selected];
  const include = picomatch(rules.include.length > 0 ? rules.include : ['!**'], { dot: true });
  const exclude = picomatch(rules.exclude.length > 0 ? rules.exclude : ['!**'], { dot: true });
  const chosen = new Set(selected);
  for (const p of all) if (partOf(p) === part && rules.include.length > 0 && include(p)) chosen.add(p);
  return [...chosen].filter((p) => !(rules.exclude.length > 0 && exclude(p))).sort();
}
