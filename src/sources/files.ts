// Which files of a model repository the steps read (FACTS.md §1.2 step 6, §1.1): the small `meta`
// files gen_config reads, and the weights convert_weight reads.
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
