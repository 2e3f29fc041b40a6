// init's choice of conv template by model family, over real HF configs (mlc_llm's presets, in test/fixtures).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/cli.js';
import { chooseConvTemplate, modelIdFor } from '../../src/manifest/starter.js';
import { convTemplateFamilies, recipes } from '../../src/recipes/index.js';

const preset = (name: string) => JSON.parse(readFileSync(join(FIXTURES, 'hf-configs', `${name}.json`), 'utf8')) as Record<string, unknown>;

describe('conv template by family', () => {
  it('tells llama families apart by name, then by vocabulary size', () => {
    expect(chooseConvTemplate({ model_type: 'llama', vocab_size: 32000 }, 'my-finetune').template).toBe('llama-2');
    expect(chooseConvTemplate({ model_type: 'llama', vocab_size: 128256 }, 'my-finetune').template).toBe('llama-3');
    expect(chooseConvTemplate({ model_type: 'llama', vocab_size: 128256 }, 'Meta-Llama-3.1-8B-Instruct').template).toBe('llama-3_1');
    expect(chooseConvTemplate({ model_type: 'llama', vocab_size: 32000 }, 'Llama-3-foo').template).toBe('llama-3');
    expect(chooseConvTemplate({ model_type: 'llama', vocab_size: 32016 }, 'CodeLlama-7b-Instruct-hf').template).toBe('codellama_instruct');
  });

  it('says when it guesses', () => {
    const unsure = chooseConvTemplate({ model_type: 'llama', vocab_size: 99 }, 'x');
    expect(unsure).toMatchObject({ template: 'llama-2', sure: false });
    expect(chooseConvTemplate({ model_type: 'no-such-type' }, 'x')).toMatchObject({ template: 'LM', sure: false });
    expect(chooseConvTemplate({ model_type: 'qwen3' }, 'x')).toMatchObject({ template: 'qwen3', sure: true });
  });

  it('gives every preset of the mlc_llm facts a registered template', () => {
    const registered = new Set(recipes().convTemplates.registered);
    for (const name of ['llama3_2_1b', 'mistral_7b', 'gemma2_2b', 'phi-4', 'qwen2_0_5b', 'redpajama_3b_v1', 'gpt2', 'olmo2_7b', 'chatglm']) {
      const t = chooseConvTemplate(preset(name), name).template;
      expect(registered.has(t), `${name} → ${t}`).toBe(true);
    }
    for (const [family, f] of Object.entries(convTemplateFamilies())) {
      for (const t of [f.default, ...(f.rules ?? []).map((r) => r.template)]) expect(registered.has(t), `${family} → ${t}`).toBe(true);
      expect(recipes().modelTypes[family], family).toBeDefined();
    }
  });

  it('model ids from sources are safe path segments', () => {
    expect(modelIdFor('hf://meta-llama/Llama-3.2-1B-Instruct@main')).toBe('Llama-3.2-1B-Instruct');
    expect(modelIdFor('/models/my model/')).toBe('my-model');
    expect(modelIdFor('..')).toBe('model');
  });
});
