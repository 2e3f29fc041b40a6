// The manifest's shape (zod). Names that depend on mlc_llm's registries (quantizations, conv templates,
// target presets) are plain strings here and checked in validate.ts, so errors can say "did you mean".
// The JSON Schema in schema/ is generated from this file (scripts/write-schema.mjs).
import { z } from 'zod';
import { NODE_KINDS, perKind } from '../steps/names.js';

const positiveInt = z
  .number({ error: 'must be a positive integer' })
  .int({ error: 'must be a positive integer' })
  .positive({ error: 'must be a positive integer' });
const str = (what = 'a string') => z.string({ error: `must be ${what}` });
const nonEmpty = (what = 'a non-empty string') => str(what).min(1, { error: `must be ${what}` });

/** gen_config options. `null` removes a value set by a lower layer. */
export const GenConfigSchema = z.strictObject({
  context_window_size: positiveInt.nullable().optional(),
  sliding_window_size: positiveInt.nullable().optional(),
  prefill_chunk_size: positiveInt.nullable().optional(),
  attention_sink_size: positiveInt.nullable().optional(),
  tensor_parallel_shards: positiveInt.nullable().optional(),
  pipeline_parallel_stages: positiveInt.nullable().optional(),
  max_batch_size: positiveInt.nullable().optional(),
  disaggregation: z.boolean({ error: 'must be true or false' }).nullable().optional(),
});

/** `mlc_llm compile --overrides` keys. */
export const OverridesSchema = z.strictObject({
  context_window_size: positiveInt.optional(),
  sliding_window_size: positiveInt.optional(),
  prefill_chunk_size: positiveInt.optional(),
  attention_sink_size: positiveInt.optional(),
  tensor_parallel_shards: positiveInt.optional(),
  pipeline_parallel_stages: positiveInt.optional(),
  max_batch_size: positiveInt.optional(),
  disaggregation: z.boolean({ error: 'must be true or false' }).optional(),
});

/** Adjusts which files of a source are downloaded: globs over repository paths. */
export const DownloadRulesSchema = z.strictObject({
  include: z.array(nonEmpty('a glob'), { error: 'must be a list of globs' }).optional().describe('files to fetch besides the default selection'),
  exclude: z.array(nonEmpty('a glob'), { error: 'must be a list of globs' }).optional().describe('files not to fetch'),
});

export const ModelSchema = z.strictObject({
  source: nonEmpty('a source: hf://org/name[@rev], git+URL[#rev] or a local folder').describe(
    'hf://org/name[@revision], git+URL[#rev], or a local folder (relative to this file)',
  ),
  conv_template: nonEmpty('a conversation template name').describe('mlc_llm conversation template (gen_config --conv-template)'),
  model_type: nonEmpty('a model type').optional().describe('passed as --model-type; inferred from config.json when unset'),
  source_format: nonEmpty('a source format').optional().describe('passed as --source-format; probed by mlc_llm when unset'),
  config: GenConfigSchema.optional(),
  download: DownloadRulesSchema.optional(),
});

const PoolNameSchema = z.enum(['net', 'cpu', 'gpu'], { error: 'must be net, cpu or gpu' });

/** Which pool a step takes, and how many of its slots. */
export const StepResourcesSchema = z.strictObject({
  pool: PoolNameSchema.optional().describe('net, cpu or gpu'),
  slots: positiveInt.optional().describe('slots of the pool (and of -j) one step takes'),
});

/** Pool sizes, and per step kind which pool it takes (defaults in recipes/pools.json). */
export const ResourcesSchema = z.strictObject({
  net: positiveInt.optional().describe('concurrent downloads (default 4)'),
  cpu: positiveInt.optional().describe('CPU-bound steps at once (default: the number of CPUs)'),
  gpu: z
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be 0 or more' })
    .optional()
    .describe('GPU jobs at once (default: the GPUs found; 0 puts GPU work on the cpu pool)'),
  ...perKind(() => StepResourcesSchema.optional()),
});

export const CacheSchema = z.union([
  nonEmpty('a folder'),
  z.strictObject({
    path: nonEmpty('a folder').optional().describe('local store (default .mlc-build)'),
    max_size: z
      .union([str(), z.number()], { error: 'must be a size like "50GB"' })
      .optional()
      .describe('gc and a warning beyond this size, e.g. "50GB", "200GiB"'),
    max_age: str('an age like "30d"').optional().describe('gc removes results unused for longer, e.g. "30d", "12h"'),
  }),
]);

const supersede = z.enum(['cancel', 'finish'], { error: 'must be cancel or finish' });

/** `watch:`: how `mlc-build watch` waits for changes and treats running steps whose key changed. */
export const WatchSchema = z.strictObject({
  debounce_ms: z
    .number({ error: 'must be a number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(0, { error: 'must be 0 or more' })
    .optional()
    .describe('wait this long after the last change before rebuilding (default 200)'),
  poll: z.boolean({ error: 'must be true or false' }).optional().describe('poll files instead of filesystem events (network and container filesystems)'),
  supersede: z
    .strictObject(perKind(() => supersede.optional()))
    .optional()
    .describe('per step kind, what becomes of a running step whose key changed: cancel (default) or finish (run to the end, cached)'),
});

/** A CI runner: one label, or the labels a runner must have. */
export const RunsOnSchema = z.union([nonEmpty('a runner label'), z.array(nonEmpty('a runner label')).min(1, { error: 'must list at least one label' })]);

/** `ci:`: what `matrix` and `ci init` need beyond the targets. */
export const CiSchema = z.strictObject({
  runs_on: z.record(z.string(), RunsOnSchema).optional().describe('runner labels by stage or target: convert (weight conversion), or a target or preset name'),
});

/** `remote_cache:`: a Bazel HTTP cache (bazel-remote, BuildBuddy, nginx with WebDAV) shared by machines. */
export const RemoteCacheSchema = z.strictObject({
  url: z
    .string({ error: 'must be a URL' })
    .refine((u) => /^https?:\/\/[^/]/.test(u), { error: 'must be an http:// or https:// URL' })
    .refine((u) => !/^https?:\/\/[^/]*@/.test(u), {
      error: 'must not hold credentials: set MLC_BUILD_REMOTE_HEADER ("Authorization: Bearer …") or put them in MLC_BUILD_REMOTE_CACHE',
    })
    .describe('the cache server, e.g. http://cache.internal:8080 (env MLC_BUILD_REMOTE_CACHE and --remote-cache override it)'),
  read_only: z.boolean({ error: 'must be true or false' }).optional().describe('fetch results, never upload (for untrusted jobs such as pull requests)'),
  timeout_ms: millis().describe('first_byte_timeout_ms and idle_timeout_ms at once (the older setting)'),
  connect_timeout_ms: millis().describe('a request fails when its connection is not made within this (default 3000)'),
  first_byte_timeout_ms: millis().describe('a request fails when no answer starts within this once it is sent (default 10000)'),
  idle_timeout_ms: millis().describe('a transfer fails after this long without a byte moving either way (default 10000; no deadline on a whole transfer)'),
  recheck_after: str('an age like "1d"')
    .refine((a) => /^\s*\d+(\.\d+)?\s*[smhdw]\s*$/i.test(a), { error: 'must be an age like "1d", "12h" or "30m"' })
    .optional()
    .describe('a result the remote was seen to hold longer ago is checked again, and sent again if it is gone (default "1d")'),
});

function millis() {
  return z
    .number({ error: 'must be a number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(1, { error: 'must be 1 or more' })
    .optional();
}

/** A hub name: an organisation or user, or a repository's name. */
const hubName = (what: string) =>
  nonEmpty(what).regex(/^[A-Za-z0-9][\w.-]*$/, { error: `must be ${what}: letters, digits, "-", "_" and "." (no leading "-" or ".")` });

/** `publish.hub:`: where `mlc-build publish` puts the release on the Hugging Face hub. */
export const PublishHubSchema = z.strictObject({
  org: hubName('an organisation or user name').optional().describe('the hub organisation (or user) the repositories belong to; --org overrides it'),
  weights_repo: nonEmpty('a template')
    .regex(/^(?:[\w.-]|\{(?:weights|model|quant|variant)\})+$/, {
      error: 'must be a repository name template: letters, digits, "-", "_", "." and {weights}, {model}, {quant}, {variant}',
    })
    .optional()
    .describe('the name of each weights folder\'s model repository under org; default "{weights}" (the folder\'s name); {model}, {quant} and {variant} too'),
  libs_repo: z
    .string({ error: 'must be a repository name or ORG/NAME' })
    .regex(/^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/, { error: 'must be a repository name under org, or ORG/NAME' })
    .optional()
    .describe('the repository of the libraries and configs: a name under org or ORG/NAME; --libs-repo overrides it'),
  private: z.boolean({ error: 'must be true or false' }).optional().describe('create missing repositories as private (default false); --private'),
});

/** `publish:`: settings of `mlc-build publish`. */
export const PublishSchema = z.strictObject({
  hub: PublishHubSchema.optional(),
});

export const TargetObjectSchema = z.strictObject({
  name: nonEmpty('a target name'),
  preset: nonEmpty('a target preset name').optional().describe('a preset from recipes/targets.json to start from'),
  device: nonEmpty('a device').optional().describe('compile --device'),
  host: nonEmpty('an LLVM triple').optional().describe('compile --host'),
  ext: nonEmpty('a file extension').optional().describe('library extension: so, dylib, dll, tar, lib, wasm'),
  stem: nonEmpty('a name').optional().describe('the platform part of the library name; defaults to name'),
  opt: nonEmpty('O0-O3 or knobs like "cublas_gemm=1;cudagraph=0"').optional().describe('compile --opt'),
  system_lib_prefix: str().optional().describe('compile --system-lib-prefix; {model}, {quant}, {tag} and {target} give each cell its own'),
  overrides: OverridesSchema.optional().describe('compile --overrides'),
  config: GenConfigSchema.optional(),
  env: z.record(z.string(), str()).optional().describe("environment variables for this target's compile"),
  resources: StepResourcesSchema.optional().describe("the pool and slots of this target's compile steps"),
  runs_on: RunsOnSchema.optional().describe("the CI runner label (or labels) this target's compiles need; default from the preset"),
});

export const TargetSchema = z.union([nonEmpty('a target preset name'), TargetObjectSchema]);

const dimValue = z.union([nonEmpty('a name'), z.array(nonEmpty('a name')).min(1, { error: 'must list at least one name' })]);

export const ExcludeSchema = z.strictObject({
  model: dimValue.optional(),
  quant: dimValue.optional(),
  quantization: dimValue.optional(),
  target: dimValue.optional(),
});

export const IncludeSchema = ExcludeSchema.extend({ config: GenConfigSchema.optional() });

export const ManifestSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1, { error: 'must be 1' }),
  out: nonEmpty('a folder').optional().describe('artifacts folder (default dist)'),
  cache: CacheSchema.optional().describe('local store: a folder (default .mlc-build), or { path, max_size, max_age }'),
  resources: ResourcesSchema.optional(),
  watch: WatchSchema.optional(),
  remote_cache: RemoteCacheSchema.optional(),
  ci: CiSchema.optional(),
  publish: PublishSchema.optional().describe('where `mlc-build publish` puts the release: publish.hub { org, weights_repo, libs_repo, private }'),
  toolchain: z
    .strictObject({
      mlc_llm: nonEmpty('a command').optional().describe('"mlc_llm", "python -m mlc_llm" or a path; env MLC_BUILD_MLC_LLM overrides'),
      fingerprint: nonEmpty('a command').optional().describe('a command whose output identifies the toolchain'),
      install: z
        .union(
          [
            z.literal('nightly'),
            z.strictObject({
              packages: z.array(nonEmpty('a pip requirement such as "mlc-llm-nightly-cpu==0.1.dev1234"'), { error: 'must be a list of packages' }).min(1, {
                error: 'must list at least one package',
              }),
              find_links: z.array(nonEmpty('a URL or folder of wheels'), { error: 'must be a list of URLs or folders' }).optional(),
              index_url: z
                .union([nonEmpty('a URL'), z.literal(false)])
                .optional()
                .describe('the package index; false installs from find_links alone'),
              python: nonEmpty('a Python command').optional().describe('default python3.11, else python3'),
            }),
          ],
          { error: 'must be "nightly" or { packages, find_links?, index_url?, python? }' },
        )
        .optional()
        .describe('a toolchain mlc-build installs itself: "nightly" (the wheel variant for this host) or pinned packages'),
    })
    .optional(),
  models: z
    .record(z.string(), ModelSchema, { error: 'must map model ids to models' })
    .refine((m) => Object.keys(m).length > 0, { error: 'must declare at least one model' }),
  quantizations: z.array(nonEmpty('a quantization name'), { error: 'must be a list of quantizations' }).min(1, {
    error: 'must list at least one quantization',
  }),
  targets: z.array(TargetSchema, { error: 'must be a list of targets' }).min(1, { error: 'must list at least one target' }),
  config: GenConfigSchema.optional(),
  download: DownloadRulesSchema.optional(),
  matrix: z
    .strictObject({
      include: z.array(IncludeSchema, { error: 'must be a list' }).optional(),
      exclude: z.array(ExcludeSchema, { error: 'must be a list' }).optional(),
    })
    .optional(),
  naming: z
    .strictObject({
      weights: nonEmpty('a template').optional().describe('default "{model}-{quant}{-tag}-MLC"'),
      library: nonEmpty('a template').optional().describe('default "{model}-{quant}-{stem}.{ext}"'),
    })
    .optional(),
});

export type RawManifest = z.infer<typeof ManifestSchema>;
export type RawTargetObject = z.infer<typeof TargetObjectSchema>;
export type RawGenConfig = z.infer<typeof GenConfigSchema>;
export type RawExclude = z.infer<typeof ExcludeSchema>;
export type RawInclude = z.infer<typeof IncludeSchema>;

/** Keys allowed in each kind of object, for "unknown key … did you mean" messages. */
export const KNOWN_KEYS = {
  top: Object.keys(ManifestSchema.shape),
  toolchain: ['mlc_llm', 'fingerprint', 'install'],
  model: Object.keys(ModelSchema.shape),
  target: Object.keys(TargetObjectSchema.shape),
  config: Object.keys(GenConfigSchema.shape),
  overrides: Object.keys(OverridesSchema.shape),
  matrix: ['include', 'exclude'],
  include: Object.keys(IncludeSchema.shape),
  exclude: Object.keys(ExcludeSchema.shape),
  naming: ['weights', 'library'],
  download: Object.keys(DownloadRulesSchema.shape),
  watch: Object.keys(WatchSchema.shape),
  remote_cache: Object.keys(RemoteCacheSchema.shape),
  ci: Object.keys(CiSchema.shape),
  publish: Object.keys(PublishSchema.shape),
  publish_hub: Object.keys(PublishHubSchema.shape),
  supersede: NODE_KINDS,
} as const;
