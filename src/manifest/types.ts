// The validated manifest: what every later layer consumes.
import type { BuildsOn, PoolName } from '../recipes/index.js';
import type { NodeKind } from '../steps/names.js';
import type { ManifestRemote } from '../store/remote/settings.js';
import type { ManifestSource, Path } from './source.js';
import type { SourceSpec } from './source-spec.js';

export const GEN_OPTION_KEYS = [
  'context_window_size',
  'sliding_window_size',
  'prefill_chunk_size',
  'attention_sink_size',
  'tensor_parallel_shards',
  'pipeline_parallel_stages',
  'max_batch_size',
  'disaggregation',
] as const;
export type GenOptionKey = (typeof GEN_OPTION_KEYS)[number];

/** One settings layer: `null` removes what a lower layer set. */
export type GenLayer = { [K in GenOptionKey]?: number | boolean | null };
/** Resolved gen_config options (no nulls; a removed option is absent). */
export type GenOptions = { [K in GenOptionKey]?: number | boolean };

export interface Model {
  id: string;
  source: SourceSpec;
  convTemplate: string;
  /** Set by the user: passed to mlc_llm as --model-type. */
  modelType?: string;
  /** Set by the user: passed to mlc_llm as --source-format. */
  sourceFormat?: string;
  config: GenLayer;
  /** Top-level and model `download:` globs, merged. */
  download: { include: string[]; exclude: string[] };
  path: Path;
}

export interface Target {
  name: string;
  preset?: string;
  device: string;
  host?: string;
  ext: string;
  stem: string;
  opt?: string;
  systemLibPrefix?: string;
  overrides: GenOptions;
  presetConfig: GenLayer;
  config: GenLayer;
  env: Record<string, string>;
  /** Environment variables mlc_llm reads when compiling for this target. */
  envReads: string[];
  buildsOn: BuildsOn;
  runner: string | string[];
  /** The machine (platform-arch) its compiles run on in CI (the preset's ci_host). */
  ciHost?: string;
  /** The pool and slots of this target's compile steps, when the target object sets them. */
  resources?: StepResources;
  /** Where it is declared; undefined for a preset that only a matrix.include names. */
  path?: Path;
}

export interface Cell {
  /** `<model>/<quant>/<target>`: stable and readable. */
  id: string;
  model: string;
  quant: string;
  target: string;
  /** Every layer applied: preset < top-level < model < target entry < matching includes. */
  options: GenOptions;
  /** Indices of the matrix.include entries that matched or added this cell. */
  includes: number[];
}

export interface Naming {
  weights: string;
  library: string;
}

export interface StepResources {
  pool?: PoolName;
  slots?: number;
}

/** The manifest's `resources:`: pool sizes and per step kind assignments (over recipes/pools.json). */
export interface Resources {
  pools: Partial<Record<PoolName, number>>;
  steps: Partial<Record<NodeKind, StepResources>>;
}

/** `cache.max_size` (bytes) and `cache.max_age` (ms): what gc keeps, and when a build warns. */
export interface CacheLimits {
  maxSize?: number;
  maxAge?: number;
}

/** `watch:`: debounce, polling, and per step kind what a running step whose key changed does. */
export interface WatchSettings {
  debounceMs?: number;
  poll?: boolean;
  supersede: Partial<Record<NodeKind, 'cancel' | 'finish'>>;
}

/** `toolchain.install`: what mlc-build installs into a managed environment (src/toolchain/managed/). */
export interface ToolchainInstall {
  /** `nightly`: the packages and wheel index of this host's variant (recipes/wheels.json). */
  nightly: boolean;
  packages: string[];
  /** URLs, or folders resolved against the project. */
  findLinks: string[];
  /** undefined: pip's default index; false: find_links alone (pip's --no-index). */
  indexUrl?: string | false;
  python?: string;
}

/** `publish.hub:` as written; flags override it (src/publish/target.ts). */
export interface PublishHubSettings {
  org?: string;
  weightsRepo?: string;
  libsRepo?: string;
  private?: boolean;
}

export interface Manifest {
  file: string;
  root: string;
  out: string;
  cache: string;
  cacheLimits: CacheLimits;
  resources: Resources;
  watch: WatchSettings;
  /** `remote_cache:`; flags and env may override it (src/store/remote/settings.ts). */
  remoteCache?: ManifestRemote;
  toolchain: { mlcLlm?: string; fingerprint?: string; install?: ToolchainInstall };
  /** `ci:`: the runner of the conversion stage (targets carry their own). */
  ci: { convertRunner?: string | string[] };
  publish: { hub: PublishHubSettings };
  models: Model[];
  quantizations: string[];
  /** Declared targets, then presets that only matrix.include names. */
  targets: Target[];
  config: GenLayer;
  cells: Cell[];
  naming: Naming;
  source: ManifestSource;
}
