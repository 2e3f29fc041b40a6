// src/recipes/ owns typed access to the data in the top-level recipes/ folder.
//
// Typed access to the data in the top-level recipes/ folder, loaded once on first use.
import { readFileSync } from 'node:fs';
import type { NodeKind } from '../steps/names.js';

export type QuantKind =
  | 'no-quant'
  | 'group-quant'
  | 'awq'
  | 'ft-quant'
  | 'per-tensor-quant'
  | 'block-scale-quant';

export interface Quantization {
  name: string;
  kind: QuantKind;
  model_dtype: string;
  group_size: number | null;
  bits_per_weight_on_disk: number;
  quantize_embedding: boolean;
}

export interface ModelType {
  config_class: string;
  model_task: 'chat' | 'embedding';
  source_formats: string[];
  supported_quant_kinds: QuantKind[];
  config_fields: { name: string; type: string; required: boolean; default: unknown }[];
}

export interface BuildsOn {
  os?: 'linux' | 'darwin' | 'win32';
  gpu?: string;
  needs: string[];
}

export interface TargetPreset {
  device: string;
  ext: string;
  stem?: string;
  config?: Record<string, number | boolean>;
  builds_on: BuildsOn;
  env: string[];
  runner: string | string[];
  /** Node's platform-arch of the machine its compiles run on in CI, when it needs a particular one. */
  ci_host?: string;
}

export interface GenConfigOption {
  key: string;
  flag: string;
  type: 'size' | 'flag';
  tag: string;
  compile_override: boolean;
}

export type PoolName = 'net' | 'cpu' | 'gpu';
export const POOL_NAMES: readonly PoolName[] = ['net', 'cpu', 'gpu'];

export interface PoolRecipe {
  /** A number, or the CPUs / GPUs of this machine. */
  size: number | 'cores' | 'gpus';
  what: string;
}

export interface StepPoolRecipe {
  /** Preference order: the first pool whose size is not 0. */
  pool: PoolName[];
  slots: number;
  expected_ms: number;
}

export interface Recipes {
  quantizations: Quantization[];
  convTemplates: { registered: string[]; cli_only: string[] };
  modelTypes: Record<string, ModelType>;
  modelTypeAliases: Record<string, string>;
  targetPresets: Record<string, TargetPreset>;
  deviceExt: { required: Record<string, string[]>; default_builder: string[] };
  systemLibPrefixDevices: string[];
  fixedHostDevices: string[];
  genConfigOptions: GenConfigOption[];
  opt: { presets: string[]; knobs: Record<string, string[]> };
  sourceFormats: string[];
  compileIgnoredFields: string[];
  pools: Record<PoolName, PoolRecipe>;
  stepPools: Record<NodeKind, StepPoolRecipe>;
}

/** One of the recipes/ data files; the caller states its shape (the files ship with mlc-build and tests check them). */
function readRecipe(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../recipes/${name}`, import.meta.url), 'utf8'));
}

let cached: Recipes | undefined;

export function recipes(): Recipes {
  if (cached) return cached;
  const q = readRecipe('quantizations.json') as { quantizations: Quantization[] };
  const c = readRecipe('conv-templates.json') as { registered: string[]; cli_only: string[] };
  const m = readRecipe('model-types.json') as { aliases: Record<string, string>; models: Record<string, ModelType> };
  const t = readRecipe('targets.json') as {
    presets: Record<string, TargetPreset>;
    device_ext: { required: Record<string, string[]>; default_builder: string[] };
    system_lib_prefix_devices: string[];
    fixed_host_devices: string[];
  };
  const g = readRecipe('gen-config-options.json') as {
    options: GenConfigOption[];
    opt: { presets: string[]; knobs: Record<string, string[]> };
    source_formats: string[];
  };
  const d = readRecipe('compile-ignored-fields.json') as { fields: string[] };
  const p = readRecipe('pools.json') as { pools: Recipes['pools']; steps: Recipes['stepPools'] };
  cached = {
    quantizations: q.quantizations,
    convTemplates: c,
    modelTypes: m.models,
    modelTypeAliases: m.aliases,
    targetPresets: t.presets,
    deviceExt: t.device_ext,
    systemLibPrefixDevices: t.system_lib_prefix_devices,
    fixedHostDevices: t.fixed_host_devices,
    genConfigOptions: g.options,
    opt: g.opt,
    sourceFormats: g.source_formats,
    compileIgnoredFields: d.fields,
    pools: p.pools,
    stepPools: p.steps,
  };
  return cached;
}

export interface ConvTemplateRule {
  /** A case-insensitive regex over the model's id and source. */
  name?: string;
  vocab_size?: number;
  template: string;
}

export interface ConvTemplateFamily {
  rules?: ConvTemplateRule[];
  default: string;
  /** False when the default is a guess (init says so). */
  sure?: boolean;
}

/** recipes/conv-template-families.json: the conv template for a model_type (what `init` writes). */
export function convTemplateFamilies(): Record<string, ConvTemplateFamily> {
  return (readRecipe('conv-template-families.json') as { families: Record<string, ConvTemplateFamily> }).families;
}

export interface WheelVariant {
  packages: string[];
  for: string;
  /** The CUDA (or ROCm) version the variant is built for. */
  cuda?: string;
  rocm?: string;
}

export interface Wheels {
  find_links: string;
  /** The Python versions MLC's wheels are built for, and the commands looked for on PATH. */
  python: { min: string; max: string; recommended: string; commands: string[] };
  variants: Record<string, WheelVariant>;
  /** pip --platform tags per lock platform, for resolving another machine's pins. */
  platform_tags: Record<string, string[] | string>;
}

/** recipes/wheels.json: MLC's wheel index and the package pair of each variant. */
export function wheels(): Wheels {
  return readRecipe('wheels.json') as Wheels;
}

/** How to install mlc_llm from MLC's wheels, in one paragraph. */
export function installAdvice(): string {
  const w = wheels();
  const cpu = w.variants.cpu as WheelVariant;
  const others = Object.entries(w.variants)
    .filter(([v]) => v !== 'cpu')
    .map(([v, x]) => `${v} for ${x.for}`)
    .join(', ');
  return `install it: python -m pip install --pre -U -f ${w.find_links} ${cpu.packages.join(' ')} (${cpu.for}; replace cpu by ${others}); or point toolchain.mlc_llm in the manifest (or MLC_BUILD_MLC_LLM) at an installed mlc_llm; \`mlc-build plan\` works without it`;
}

export interface CiRecipe {
  compile_base_seconds: number;
  compile_seconds_per_billion: Record<string, number>;
  convert_seconds_per_billion: number;
  convert_runner: string | string[];
  job_limits: { github: number; gitlab: number };
  web_runtime: WebRuntimeRecipe;
}

/** What a webgpu compile job sets up: emsdk at MLC's version, and the web runtime from an mlc-llm checkout. */
export interface WebRuntimeRecipe {
  emsdk_version: string;
  emsdk_repo: string;
  mlc_llm_repo: string;
}

/** recipes/ci.json: expected step costs for sharding, the conversion runner, CI job limits. */
export function ciRecipe(): CiRecipe {
  return readRecipe('ci.json') as CiRecipe;
}
