// argv of each mlc_llm step, flag for flag as the seed's "Compile Command Specification" writes them.
// Paths are parameters: `plan` passes the out/ layout, a build passes staging folders.
import { recipes } from '../recipes/index.js';
import type { GenOptions, GenOptionKey } from '../manifest/types.js';

export interface ConvertWeightArgs {
  source: string;
  quant: string;
  modelType?: string;
  sourceFormat?: string;
  output: string;
}

export function convertWeightArgv(a: ConvertWeightArgs): string[] {
  return [
    'convert_weight',
    a.source,
    '--quantization',
    a.quant,
    ...(a.modelType !== undefined ? ['--model-type', a.modelType] : []),
    ...(a.sourceFormat !== undefined ? ['--source-format', a.sourceFormat] : []),
    '-o',
    a.output,
  ];
}

export interface GenConfigArgs {
  source: string;
  quant: string;
  modelType?: string;
  convTemplate: string;
  options: GenOptions;
  output: string;
}

export function genConfigArgv(a: GenConfigArgs): string[] {
  const sizes: string[] = [];
  for (const opt of recipes().genConfigOptions) {
    const v = a.options[opt.key as GenOptionKey];
    if (v === undefined || v === false) continue;
    // --disaggregation is `type=bool`: any value means True, so it is passed only when true.
    sizes.push(opt.flag, v === true ? 'True' : String(v));
  }
  return [
    'gen_config',
    a.source,
    '--quantization',
    a.quant,
    ...(a.modelType !== undefined ? ['--model-type', a.modelType] : []),
    '--conv-template',
    a.convTemplate,
    ...sizes,
    '-o',
    a.output,
  ];
}

export interface CompileArgs {
  config: string;
  device: string;
  host?: string;
  opt?: string;
  systemLibPrefix?: string;
  overrides: GenOptions;
  output: string;
}

/** ModelConfigOverride's field order, which --overrides follows. */
const OVERRIDE_ORDER: GenOptionKey[] = [
  'context_window_size',
  'sliding_window_size',
  'prefill_chunk_size',
  'attention_sink_size',
  'max_batch_size',
  'tensor_parallel_shards',
  'pipeline_parallel_stages',
  'disaggregation',
];

export function overridesString(overrides: GenOptions): string {
  return OVERRIDE_ORDER.filter((k) => overrides[k] !== undefined)
    .map((k) => `${k}=${String(overrides[k])}`)
    .join(';');
}

export function compileArgv(a: CompileArgs): string[] {
  const overrides = overridesString(a.overrides);
  return [
    'compile',
    a.config,
    '--device',
    a.device,
    ...(a.host !== undefined ? ['--host', a.host] : []),
    ...(a.opt !== undefined ? ['--opt', a.opt] : []),
    ...(a.systemLibPrefix !== undefined ? ['--system-lib-prefix', a.systemLibPrefix] : []),
    '-o',
    a.output,
    ...(overrides !== '' ? ['--overrides', overrides] : []),
  ];
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellLine(argv: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${shellWord(v)}`);
  return [...prefix, ...argv.map(shellWord)].join(' ');
}
