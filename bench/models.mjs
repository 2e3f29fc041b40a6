// The HF configs the benchmarks build (test/fixtures/hf-configs/<preset>.json) and a conv template for each.
export const PRESETS = ['llama2_7b', 'mistral_7b', 'qwen2_0_5b', 'redpajama_3b_v1', 'gemma_2b', 'phi-2'];
export const CONV = {
  llama2_7b: 'llama-2',
  mistral_7b: 'mistral_default',
  qwen2_0_5b: 'qwen2',
  redpajama_3b_v1: 'redpajama_chat',
  gemma_2b: 'gemma_instruction',
  'phi-2': 'phi-2',
};
