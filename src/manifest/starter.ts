// What `mlc-build init` writes: a starting mlc.build.yaml for the given models, with a conv
// template chosen from each model's family (recipes/conv-template-families.json) and the targets
// this host can build (the others commented out). Pure: the caller reads configs and the host.
import { convTemplateFamilies } from '../recipes/index.js';

export interface ConvChoice {
  template: string;
  /** False when the choice is a guess: init says so in a comment. */
  sure: boolean;
  /** Why, for the comment beside it. */
  why: string;
}

export function chooseConvTemplate(config: { model_type?: unknown; vocab_size?: unknown }, name: string): ConvChoice {
  const type = typeof config.model_type === 'string' ? config.model_type : undefined;
  const family = type ? convTemplateFamilies()[type] : undefined;
  if (!type || !family)
    return { template: 'LM', sure: false, why: `model_type ${type ?? '(none)'} has no known chat template: LM (plain completion) until you pick one` };
  const rules = family.rules ?? [];
  const byName = rules.find((r) => r.name !== undefined && new RegExp(r.name, 'i').test(name));
  if (byName) return { template: byName.template, sure: true, why: `model_type ${type}, and the name matches /${byName.name}/i` };
  const byVocab = rules.find((r) => r.vocab_size !== undefined && r.vocab_size === config.vocab_size);
  if (byVocab) return { template: byVocab.template, sure: true, why: `model_type ${type} with vocab_size ${String(config.vocab_size)}` };
  const sure = family.sure !== false && rules.length === 0;
  return {
    template: family.default,
    sure,
    why: sure ? `model_type ${type}` : `model_type ${type}; not sure which of its families this is: check the model card`,
  };
}

/** A model id from its source: the repository's or folder's name, as a safe path segment. */
export function modelIdFor(source: string): string {
  const bare = source
    .replace(/^hf:\/\//, '')
    .replace(/@.*$/, '')
    .replace(/\/+$/, '');
  const last = bare.split('/').pop() ?? 'model';
  const id = last.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '');
  return id === '' ? 'model' : id;
}

export interface StarterModel {
  id: string;
  source: string;
  conv: ConvChoice;
}

export interface StarterTarget {
  name: string;
  /** What this host lacks to build it; undefined when it can. */
  missing?: string;
}

const yamlString = (s: string) => (/^[\w./@:+-]+$/.test(s) && !/^[-?:,[\]{}#&*!|>'"%@`]/.test(s) ? s : JSON.stringify(s));

const EXAMPLE: StarterModel = {
  id: 'Qwen2.5-0.5B-Instruct',
  source: 'hf://Qwen/Qwen2.5-0.5B-Instruct',
  conv: { template: 'qwen2', sure: true, why: 'model_type qwen2' },
};

export function starterManifest(models: readonly StarterModel[], targets: readonly StarterTarget[], schema: string): string {
  const lines = [
    `# yaml-language-server: $schema=${schema}`,
    '#',
    '# Written by `mlc-build init`. `mlc-build plan` shows every step and its command; `mlc-build` builds.',
    'version: 1',
    'out: dist                 # artifacts: dist/<model>-<quant>-MLC/, dist/libs/',
    'cache: .mlc-build         # local store',
    'toolchain:',
    "  install: nightly        # mlc-build installs MLC's nightly wheels for this host, pinned in mlc.build.lock",
    '  # mlc_llm: mlc_llm      # instead: an installed mlc_llm ("python -m mlc_llm", a venv\'s bin/mlc_llm)',
  ];
  const shown = models.length > 0 ? models : [EXAMPLE];
  lines.push('models:');
  if (models.length === 0) {
    lines.push(
      '  # An example to start from: a small chat model on the hub (nothing is downloaded until you build).',
      '  # Sources: hf://org/name[@rev] | git+URL[#rev] | ./local/folder. `mlc-build init hf://ORG/NAME ./folder …`',
      "  # fills this in from the models' config.json.",
    );
  }
  for (const m of shown) {
    lines.push(
      `  ${yamlString(m.id)}:`,
      `    source: ${yamlString(m.source)}`,
      `    conv_template: ${yamlString(m.conv.template)}   # ${m.conv.sure ? '' : 'a guess: '}${m.conv.why}`,
    );
  }
  lines.push('quantizations: [q4f16_1]', 'targets:');
  const width = Math.max(...targets.map((t) => t.name.length));
  for (const t of targets)
    lines.push(t.missing === undefined ? `  - ${t.name}` : `  # - ${t.name.padEnd(width)}   # this host lacks ${t.missing}; build it on such a host or on CI`);
  if (targets.every((t) => t.missing !== undefined)) lines.push('  []');
  return lines.join('\n') + '\n';
}
