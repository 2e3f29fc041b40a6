#!/usr/bin/env node
// A test double of the `mlc_llm` CLI (convert_weight, gen_config, compile), for tests only: the
// product always calls the real mlc_llm. Built from the "Compile Command Specification" and the
// mlc_llm facts: argparse-strict (unique-prefix abbreviations; a usage error prints the usage on
// stdout, the error on stderr and exits 2), the real file names and layout, output sizes from the
// quantization's bits per weight, deterministic bytes derived from the inputs, and it refuses what
// mlc_llm refuses (suffix rules, unknown conv template, missing config.json, unsupported quant).
//
// Environment:
//   MLC_DOUBLE_LOG         append one JSON line per call: {sub, args, cwd, pid, start, end, status}
//   MLC_DOUBLE_STARTS      append one JSON line per call as it starts: {sub, args, pid, time, inputs} (a killed
//                          call is in this log only); `inputs` digests the arguments (staging path left out) and
//                          every file under the staging folder's in/, so equal inputs mean an identical run
//   MLC_DOUBLE_FAIL        a regex; a call whose "sub args…" matches fails (exit 1, a traceback)
//   MLC_DOUBLE_SLEEP_MS    sleep before writing outputs: "500" or "compile=200,convert_weight=1000"
//   MLC_DOUBLE_SLEEP_FILE  a JSON file {regex: ms}: the first regex matching "<cwd name> <sub> <args…>" sets the sleep
//                          (benchmarks give each step its own duration; the cwd is named after the step)
//   MLC_DOUBLE_IGNORE_TERM ignore SIGTERM (a step that will not stop when asked)
//   MLC_DOUBLE_CHILDREN    a file: start a long-lived child process (as a compile starts compilers), in the
//                          step's process group, and append "<double pid> <child pid>" to the file
//   MLC_DOUBLE_CHILD_IGNORE_TERM  that child ignores SIGTERM
//   MLC_DOUBLE_ENV_DUMP    a file: append the environment the step sees, as one JSON line
//   MLC_DOUBLE_SHARD_CAP   shard size cap in bytes (mlc_llm: 32 MiB)
//   MLC_DOUBLE_LIB_BYTES   library size in bytes (default 8192)
//   MLC_DOUBLE_NO_MEMORY   compile prints no memory lines (as mlc_llm releases before they existed)
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';

const here = dirname(new URL(import.meta.url).pathname);
const recipes = (name) => JSON.parse(readFileSync(join(here, '../../recipes', name), 'utf8'));
const QUANTS = recipes('quantizations.json').quantizations;
const MODELS = recipes('model-types.json');
const CONV = recipes('conv-templates.json');
const CONV_CLI = [...CONV.registered, ...CONV.cli_only].sort();
const CONV_BODIES = JSON.parse(readFileSync(join(here, 'conv-templates-full.json'), 'utf8'));
const DEVICE_SUFFIX = {
  iphone: ['.tar'],
  macabi: ['.tar'],
  android: ['.tar'],
  'android:adreno': ['.tar'],
  'android:adreno-so': ['.so'],
  mali: ['.so'],
  'metal:x86-64': ['.dylib'],
  webgpu: ['.wasm'],
};
const KNOWN_DEVICES = [
  'auto',
  'cuda',
  'rocm',
  'metal',
  'vulkan',
  'opencl',
  'cpu',
  'iphone',
  'macabi',
  'android',
  'webgpu',
  'mali',
  'iphone:generic',
  'macabi:generic',
  'android:generic',
  'android:adreno',
  'android:adreno-so',
  'windows:adreno_x86',
  'metal:x86-64',
  'webgpu:generic',
  'opencl:generic',
  'mali:generic',
  'metal:generic',
  'vulkan:generic',
];
const OVERRIDE_KEYS = [
  'context_window_size',
  'sliding_window_size',
  'prefill_chunk_size',
  'attention_sink_size',
  'max_batch_size',
  'tensor_parallel_shards',
  'pipeline_parallel_stages',
  'disaggregation',
];
// What compile does not build into the library (kwargs it drops, runtime-only fields).
const COMPILE_IGNORES = [
  'conv_template',
  'tokenizer_files',
  'tokenizer_info',
  'temperature',
  'presence_penalty',
  'frequency_penalty',
  'repetition_penalty',
  'top_p',
  'pad_token_id',
  'bos_token_id',
  'eos_token_id',
];

const SPECS = {
  convert_weight: {
    positional: ['config'],
    options: [
      { flag: '--quantization', dest: 'quantization', required: true, choices: QUANTS.map((q) => q.name) },
      { flag: '--model-type', dest: 'model_type', default: 'auto', choices: ['auto', ...Object.keys(MODELS.models)] },
      { flag: '--device', dest: 'device', default: 'auto' },
      { flag: '--source', dest: 'source', default: 'auto' },
      { flag: '--source-format', dest: 'source_format', default: 'auto', choices: ['auto', 'huggingface-torch', 'huggingface-safetensor', 'awq'] },
      { flag: '--output', short: '-o', dest: 'output', required: true },
      { flag: '--lora-adapter', dest: 'lora_adapter' },
    ],
  },
  gen_config: {
    positional: ['config'],
    options: [
      { flag: '--quantization', dest: 'quantization', required: true, choices: QUANTS.map((q) => q.name) },
      { flag: '--model-type', dest: 'model_type', default: 'auto', choices: ['auto', ...Object.keys(MODELS.models)] },
      { flag: '--conv-template', dest: 'conv_template', required: true, choices: CONV_CLI },
      { flag: '--context-window-size', dest: 'context_window_size', type: 'int' },
      { flag: '--sliding-window-size', dest: 'sliding_window_size', type: 'int' },
      { flag: '--prefill-chunk-size', dest: 'prefill_chunk_size', type: 'int' },
      { flag: '--attention-sink-size', dest: 'attention_sink_size', type: 'int' },
      { flag: '--tensor-parallel-shards', dest: 'tensor_parallel_shards', type: 'int' },
      { flag: '--pipeline-parallel-stages', dest: 'pipeline_parallel_stages', type: 'int' },
      { flag: '--disaggregation', dest: 'disaggregation', type: 'bool' },
      { flag: '--max-batch-size', dest: 'max_batch_size', type: 'int', default: 128 },
      { flag: '--output', short: '-o', dest: 'output', required: true },
    ],
  },
  compile: {
    positional: ['model'],
    options: [
      { flag: '--quantization', dest: 'quantization', choices: QUANTS.map((q) => q.name) },
      { flag: '--model-type', dest: 'model_type', default: 'auto', choices: ['auto', ...Object.keys(MODELS.models)] },
      { flag: '--device', dest: 'device', default: 'auto' },
      { flag: '--host', dest: 'host', default: 'auto' },
      { flag: '--enable-subgroups', dest: 'enable_subgroups', type: 'store_true' },
      { flag: '--opt', dest: 'opt', default: 'O2' },
      { flag: '--system-lib-prefix', dest: 'system_lib_prefix', default: 'auto' },
      { flag: '--output', short: '-o', dest: 'output', required: true },
      { flag: '--overrides', dest: 'overrides', default: '' },
      { flag: '--debug-dump', dest: 'debug_dump' },
    ],
  },
};

class UsageError extends Error {}
class PyError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function usage(sub) {
  if (!sub) return 'usage: MLC LLM Command Line Interface. [-h] {compile,convert_weight,gen_config,chat,serve,package,calibrate,router}';
  const spec = SPECS[sub];
  const parts = spec.options.map((o) =>
    o.required ? `${o.short ?? o.flag} ${o.dest.toUpperCase()}` : `[${o.flag}${o.type === 'store_true' ? '' : ` ${o.dest.toUpperCase()}`}]`,
  );
  return `usage: mlc_llm ${sub} [-h] ${parts.join(' ')} ${spec.positional.join(' ')}`;
}

function parseArgs(sub, argv) {
  const spec = SPECS[sub];
  const args = {};
  const positionals = [];
  for (const o of spec.options) args[o.dest] = o.default ?? (o.type === 'store_true' ? false : null);
  const longs = spec.options.map((o) => o.flag);
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '-h' || tok === '--help') {
      process.stdout.write(usage(sub) + '\n');
      process.exit(0);
    }
    if (tok.startsWith('-') && tok !== '-') {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok : tok.slice(0, eq);
      let opt = spec.options.find((o) => o.flag === name || o.short === name);
      if (!opt && name.startsWith('--')) {
        const hits = longs.filter((l) => l.startsWith(name));
        if (hits.length > 1) throw new UsageError(`ambiguous option: ${name} could match ${hits.join(', ')}`);
        if (hits.length === 1) opt = spec.options.find((o) => o.flag === hits[0]);
      }
      if (!opt) throw new UsageError(`unrecognized arguments: ${argv.slice(i).join(' ')}`);
      if (opt.type === 'store_true') {
        args[opt.dest] = true;
        continue;
      }
      const value = eq === -1 ? argv[++i] : tok.slice(eq + 1);
      if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`argument ${opt.flag}: expected one argument`);
      if (opt.choices && !opt.choices.includes(value)) {
        throw new UsageError(`argument ${opt.flag}: invalid choice: '${value}' (choose from ${opt.choices.map((c) => `'${c}'`).join(', ')})`);
      }
      if (opt.type === 'int') {
        if (!/^[-+]?\d+$/.test(value)) throw new UsageError(`argument ${opt.flag}: invalid int value: '${value}'`);
        args[opt.dest] = Number(value);
      } else if (opt.type === 'bool') {
        args[opt.dest] = value !== ''; // Python bool(str): any non-empty string is True
      } else {
        args[opt.dest] = value;
      }
    } else {
      positionals.push(tok);
    }
  }
  if (positionals.length > spec.positional.length) throw new UsageError(`unrecognized arguments: ${positionals.slice(spec.positional.length).join(' ')}`);
  const missing = [
    ...spec.positional.filter((_, i) => positionals[i] === undefined),
    ...spec.options.filter((o) => o.required && args[o.dest] === null).map((o) => (o.short ? `${o.flag}/${o.short}` : o.flag)),
  ];
  if (missing.length) throw new UsageError(`the following arguments are required: ${missing.join(', ')}`);
  spec.positional.forEach((p, i) => (args[p] = positionals[i]));
  return args;
}

const log = (msg) => process.stderr.write(`[${new Date().toISOString().slice(0, 19).replace('T', ' ')}] INFO ${msg}\n`);

function readConfigJson(arg) {
  const path = existsSync(arg) && statSync(arg).isDirectory() ? join(arg, 'config.json') : arg;
  if (!existsSync(path)) throw new PyError('ValueError', `Expect config.json to exist, but it does not: ${path}`);
  return { path, dir: dirname(resolve(path)), config: JSON.parse(readFileSync(path, 'utf8')) };
}

function detectModelType(requested, config) {
  if (requested !== 'auto') return requested;
  const raw = config.model_type ?? config.model_config?.model_type;
  if (raw === undefined) throw new PyError('ValueError', `'model_type' not found in config. Please explicitly specify --model-type`);
  const type = MODELS.aliases[raw] ?? raw;
  if (!MODELS.models[type]) throw new PyError('ValueError', `Unknown model type: ${raw}. Available ones: ${Object.keys(MODELS.models).join(', ')}`);
  return type;
}

const sha = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : p);
  return h.digest();
};
const fileSha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Deterministic bytes from a seed: a 64 KiB pattern, each chunk stamped with its index. */
function deterministicBytes(seed, size) {
  const CHUNK = 65536;
  const pattern = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK / 32; i++) sha(seed, String(i)).copy(pattern, i * 32);
  const out = Buffer.alloc(size);
  for (let off = 0, n = 0; off < size; off += CHUNK, n++) {
    pattern.copy(out, off, 0, Math.min(CHUNK, size - off));
    if (off + 4 <= size) out.writeUInt32LE(n >>> 0, off);
  }
  return out;
}

/** How long this call sleeps; decided as it starts (before its start line), so a test may change the table once it has started. */
function sleepMs(sub) {
  if (process.env.MLC_DOUBLE_SLEEP_FILE) {
    const table = JSON.parse(readFileSync(process.env.MLC_DOUBLE_SLEEP_FILE, 'utf8'));
    const line = `${basename(process.cwd())} ${sub} ${process.argv.slice(3).join(' ')}`;
    const hit = Object.entries(table).find(([re]) => new RegExp(re).test(line));
    if (hit) return Number(hit[1]);
  }
  const spec = process.env.MLC_DOUBLE_SLEEP_MS;
  if (!spec) return 0;
  return /^\d+$/.test(spec) ? Number(spec) : Number(Object.fromEntries(spec.split(',').map((kv) => kv.split('=')))[sub] ?? 0);
}

/** What this call reads: its arguments with the staging folder left out, and the files under its in/ (of a compile's config, the fields compile reads). */
function inputsDigest(sub, args) {
  const h = createHash('sha256');
  const cwd = process.cwd();
  h.update(args.map((a) => a.split(cwd).join('<staging>')).join('\0'));
  const walk = (dir) => {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile()) {
        let bytes = readFileSync(p);
        if (sub === 'compile' && name === 'mlc-chat-config.json') {
          const config = JSON.parse(bytes.toString('utf8'));
          bytes = Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(config).filter(([k]) => !COMPILE_IGNORES.includes(k)))));
        }
        h.update(`\0${p.slice(cwd.length)}\0`).update(bytes);
      }
    }
  };
  walk(join(cwd, 'in'));
  return h.digest('hex');
}

let SLEEP_MS = 0;
function sleepFor() {
  if (SLEEP_MS > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SLEEP_MS);
}

function convertWeight(args) {
  const { config, dir } = readConfigJson(args.config);
  const modelType = detectModelType(args.model_type, config);
  const quant = QUANTS.find((q) => q.name === args.quantization);
  if (!MODELS.models[modelType].supported_quant_kinds.includes(quant.kind)) throw new PyError('KeyError', `'${quant.kind}'`);
  const source = args.source === 'auto' ? dir : resolve(args.source);
  if (!existsSync(source)) throw new PyError('ValueError', `Source path does not exist: ${source}`);
  const probe = ['pytorch_model.bin.index.json', 'pytorch_model.bin', 'model.safetensors.index.json', 'model.safetensors'];
  const allowed = { auto: probe, 'huggingface-torch': probe.slice(0, 2), 'huggingface-safetensor': probe.slice(2), awq: probe };
  const found = allowed[args.source_format].find((f) => existsSync(join(source, f)));
  if (!found) throw new PyError('ValueError', `Weight files not found in ${source} (looked for ${allowed[args.source_format].join(', ')})`);
  let files;
  if (found.endsWith('.index.json')) {
    files = [...new Set(Object.values(JSON.parse(readFileSync(join(source, found), 'utf8')).weight_map ?? {}))].sort();
  } else {
    files = [found];
    if (found === 'model.safetensors') {
      // mlc_llm writes an index next to a lone model.safetensors: into its *source* folder.
      writeFileSync(
        join(source, 'model.safetensors.index.json'),
        JSON.stringify({ metadata: {}, weight_map: { 'model.embed_tokens.weight': 'model.safetensors' } }),
      );
    }
  }
  for (const f of files) if (!existsSync(join(source, f))) throw new PyError('FileNotFoundError', `[Errno 2] No such file or directory: '${join(source, f)}'`);
  process.stdout.write(
    `Weight conversion with arguments:\n  --config          ${args.config}\n  --quantization    ${quant.name}\n  --model-type      ${modelType}\n  --device          cpu:0\n  --source          ${source}\n  --source-format   ${found.includes('safetensors') ? 'huggingface-safetensor' : 'huggingface-torch'}\n  --output          ${args.output}\n`,
  );
  const sourceBytes = files.reduce((n, f) => n + statSync(join(source, f)).size, 0);
  const params = Math.max(1, Math.floor(sourceBytes / 2)); // fp16/bf16 checkpoints
  const total = Math.max(64, Math.ceil((params * quant.bits_per_weight_on_disk) / 8));
  const cap = Number(process.env.MLC_DOUBLE_SHARD_CAP ?? 32 * 1024 * 1024);
  const seed = sha(JSON.stringify(config), quant.name, modelType, ...files.map((f) => fileSha(join(source, f))));
  sleepFor('convert_weight');
  mkdirSync(args.output, { recursive: true });
  process.stdout.write(`Start storing to cache ${args.output}\n`);
  const records = [];
  for (let off = 0, i = 0; off < total; off += cap, i++) {
    const nbytes = Math.min(cap, total - off);
    const bytes = deterministicBytes(sha(seed, `shard${i}`), nbytes);
    const dataPath = `params_shard_${i}.bin`;
    writeFileSync(join(args.output, dataPath), bytes);
    records.push({
      dataPath,
      format: 'raw-shard',
      nbytes,
      records: [{ name: `model.layers.${i}.q_weight`, shape: [Math.floor(nbytes / 4)], dtype: 'uint32', format: 'f32-to-bf16', nbytes, byteOffset: 0 }],
      md5sum: createHash('md5').update(bytes).digest('hex'),
    });
  }
  const cache = { metadata: { ParamSize: records.length, ParamBytes: total, BitsPerParam: quant.bits_per_weight_on_disk }, records };
  writeFileSync(join(args.output, 'tensor-cache.json'), JSON.stringify(cache, null, 2));
  if (quant.model_dtype === 'float32') writeFileSync(join(args.output, 'tensor-cache-b16.json'), JSON.stringify(cache, null, 2));
  process.stdout.write(`All finished, ${records.length} total shards committed, record saved to ${join(args.output, 'tensor-cache.json')}\n`);
  log(`convert_weight.py:170: Parameter size after quantization: ${(total / 1e9).toFixed(3)} GB`);
  log(`convert_weight.py:171: Total parameters: ${params.toLocaleString('en-US')}`);
  log(`convert_weight.py:172: Bits per parameter: ${quant.bits_per_weight_on_disk.toFixed(3)}`);
  log(`convert_weight.py:173: Saved to directory: ${args.output}`);
}

function genConfig(args) {
  const { config, dir } = readConfigJson(args.config);
  if (!CONV.registered.includes(args.conv_template)) {
    log(`gen_config.py:92: Conversation template ${args.conv_template} is not registered`);
    throw new PyError(
      'pydantic_core._pydantic_core.ValidationError',
      `1 validation error for MLCChatConfig\nconv_template\n  Input should be a valid dictionary or instance of Conversation [type=model_type, input_value='${args.conv_template}', input_type=str]`,
    );
  }
  const modelType = detectModelType(args.model_type, config);
  const fields = new Set(MODELS.models[modelType].config_fields.map((f) => f.name));
  const modelConfig = {};
  for (const f of MODELS.models[modelType].config_fields) if (f.name in config) modelConfig[f.name] = config[f.name];
  const pick = (...xs) => xs.find((x) => x !== undefined && x !== null);
  let ctx = fields.has('context_window_size')
    ? pick(config.context_window_size, config.max_position_embeddings, config.n_positions, config.max_sequence_length, -1)
    : -1;
  let sws = fields.has('sliding_window_size') ? pick(config.sliding_window_size, config.sliding_window, -1) : -1;
  let sink = fields.has('attention_sink_size') ? pick(config.attention_sink_size, -1) : -1;
  for (const [k, v] of Object.entries({
    context_window_size: args.context_window_size,
    sliding_window_size: args.sliding_window_size,
    attention_sink_size: args.attention_sink_size,
  })) {
    if (v === null) continue;
    if (!fields.has(k)) {
      log(`gen_config.py:110: Warning: Cannot override ${k}, because ${MODELS.models[modelType].config_class} does not have this field`);
      continue;
    }
    if (k === 'context_window_size') ctx = v;
    if (k === 'sliding_window_size') sws = v;
    if (k === 'attention_sink_size') sink = v;
  }
  const window = ctx > 0 ? ctx : sws;
  let prefill = pick(args.prefill_chunk_size, config.prefill_chunk_size, Math.min(window > 0 ? window : 2048, 8192));
  if (ctx > 0 && prefill > ctx) prefill = Math.min(ctx, 8192);
  Object.assign(modelConfig, {
    ...(fields.has('context_window_size') ? { context_window_size: ctx } : {}),
    ...(fields.has('sliding_window_size') ? { sliding_window_size: sws } : {}),
    prefill_chunk_size: prefill,
    tensor_parallel_shards: args.tensor_parallel_shards ?? 1,
    max_batch_size: args.max_batch_size,
  });
  sleepFor('gen_config');
  mkdirSync(args.output, { recursive: true });
  const generation = existsSync(join(dir, 'generation_config.json')) ? JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) : {};
  const sampled = (k, d) => pick(generation[k], config[k], d);
  const tokenizerFiles = [];
  for (const f of ['tokenizer.model', 'tokenizer.json', 'vocab.json', 'merges.txt', 'added_tokens.json', 'tokenizer_config.json']) {
    if (existsSync(join(dir, f))) {
      copyFileSync(join(dir, f), join(args.output, f));
      tokenizerFiles.push(f);
    }
  }
  const tokenizerJson = existsSync(join(dir, 'tokenizer.json')) ? readFileSync(join(dir, 'tokenizer.json'), 'utf8') : '';
  const vocab = pick(config.vocab_size, -1);
  const chat = {
    version: '0.1.0',
    model_type: modelType,
    quantization: args.quantization,
    model_config: modelConfig,
    vocab_size: vocab,
    context_window_size: ctx,
    sliding_window_size: sws,
    prefill_chunk_size: prefill,
    attention_sink_size: sink,
    tensor_parallel_shards: args.tensor_parallel_shards ?? 1,
    pipeline_parallel_stages: args.pipeline_parallel_stages ?? 1,
    active_vocab_size: vocab,
    temperature: sampled('temperature', 1.0),
    presence_penalty: sampled('presence_penalty', 0.0),
    frequency_penalty: sampled('frequency_penalty', 0.0),
    repetition_penalty: sampled('repetition_penalty', 1.0),
    top_p: sampled('top_p', 1.0),
    tokenizer_files: tokenizerFiles,
    tokenizer_info: {
      token_postproc_method: tokenizerJson.includes('ByteLevel') ? 'byte_level' : 'byte_fallback',
      prepend_space_in_encode: false,
      strip_space_in_decode: false,
    },
    conv_template: CONV_BODIES[args.conv_template],
    pad_token_id: sampled('pad_token_id', 0),
    bos_token_id: sampled('bos_token_id', 1),
    eos_token_id: sampled('eos_token_id', 2),
    model_task: MODELS.models[modelType].model_task,
    embedding_metadata: null,
  };
  const out = join(args.output, 'mlc-chat-config.json');
  log(`gen_config.py:166: Dumping configuration file to: ${out}`);
  writeFileSync(out, JSON.stringify(chat, null, 2));
}

function compile(args) {
  const path = existsSync(args.model) && statSync(args.model).isDirectory() ? join(args.model, 'mlc-chat-config.json') : args.model;
  if (!existsSync(path)) throw new PyError('ValueError', `Cannot find mlc-chat-config.json: ${args.model}`);
  const config = JSON.parse(readFileSync(path, 'utf8'));
  const quantization = args.quantization ?? config.quantization;
  if (!quantization) throw new PyError('ValueError', '--quantization is not specified and mlc-chat-config.json has no "quantization"');
  const modelType = args.model_type === 'auto' ? (config.model_type ?? config.model_config?.model_type) : args.model_type;
  const device = args.device;
  if (device === 'auto') throw new PyError('ValueError', 'No target detected from device: auto. Please specify explicitly');
  if (!KNOWN_DEVICES.includes(device) && !/^[a-z]+:\d+$/.test(device)) throw new PyError('ValueError', `Invalid target: ${device}`);
  const overrides = {};
  for (const part of args.overrides.split(';').filter((p) => p.trim() !== '')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (!OVERRIDE_KEYS.includes(k)) throw new UsageError(`argument --overrides: invalid value: '${args.overrides}' (unknown key ${k})`);
    overrides[k] = k === 'disaggregation' ? ['true', '1', 'yes'].includes(String(v).toLowerCase()) : Number(v);
  }
  if (!/^O[0-3]$/.test(args.opt)) {
    for (const part of args.opt.split(';').filter(Boolean)) {
      const [k, v] = part.split('=');
      if (!['flashinfer', 'cublas_gemm', 'faster_transformer', 'cudagraph', 'cutlass', 'ipc_allreduce_strategy'].includes(k))
        throw new PyError('ValueError', `Unknown optimization flag: ${k}`);
      if (k !== 'ipc_allreduce_strategy' && !['0', '1'].includes(v)) throw new PyError('ValueError', `Invalid value for ${k}: ${v}`);
    }
  }
  const output = resolve(args.output);
  if (existsSync(output) && statSync(output).isDirectory()) throw new PyError('ValueError', `Output must be a file, got a directory: ${args.output}`);
  if (!existsSync(dirname(output))) throw new PyError('FileNotFoundError', `[Errno 2] No such file or directory: '${dirname(output)}'`);
  const suffix = extname(output);
  const need = DEVICE_SUFFIX[device.replace(/:generic$/, '')];
  if (need && !need.includes(suffix)) throw new PyError('AssertionError', `Output suffix for ${device} must be ${need.join(' or ')}, got ${suffix}`);
  if (!need && !['.so', '.dylib', '.dll', '.tar', '.lib'].includes(suffix)) log(`compile.py:120: Unknown output suffix: ${suffix}. Assuming shared library.`);
  let wasmRuntime = '';
  if (device.startsWith('webgpu')) {
    const candidates = [
      'web/dist/wasm/mlc_wasm_runtime.bc',
      ...(process.env.MLC_LLM_SOURCE_DIR ? [join(process.env.MLC_LLM_SOURCE_DIR, 'web/dist/wasm/mlc_wasm_runtime.bc')] : []),
    ];
    const bc = candidates.find((c) => existsSync(c));
    if (!bc) throw new PyError('RuntimeError', 'Cannot find library: mlc_wasm_runtime.bc');
    wasmRuntime = fileSha(bc);
  }
  const autoPrefix = ['iphone', 'macabi', 'android'].some((d) => device.startsWith(d)) ? `${modelType}_${quantization}_`.replace(/-/g, '_') : '';
  const prefix = args.system_lib_prefix === 'auto' ? autoPrefix : ['iphone', 'macabi', 'android'].includes(device) ? args.system_lib_prefix : '';
  const read = Object.fromEntries(Object.entries(config).filter(([k]) => !COMPILE_IGNORES.includes(k)));
  const multiArch = device.startsWith('cuda') ? (process.env.MLC_MULTI_ARCH ?? '') : '';
  const seed = sha(JSON.stringify(read), quantization, device, args.host, args.opt, prefix, JSON.stringify(overrides), multiArch, wasmRuntime, suffix);
  process.stdout.write(
    `Compiling with arguments:\n  --config          ${path}\n  --quantization    ${quantization}\n  --model-type      ${modelType}\n  --target          {"kind": "${device.split(':')[0]}"}\n  --opt             ${args.opt}\n  --system-lib-prefix "${prefix}"\n  --output          ${args.output}\n  --overrides       ${args.overrides}\n`,
  );
  sleepFor('compile');
  writeFileSync(output, deterministicBytes(seed, Number(process.env.MLC_DOUBLE_LIB_BYTES ?? 8192)));
  if (!process.env.MLC_DOUBLE_NO_MEMORY) reportMemory(config, quantization, overrides);
  log(`compile.py:190: Generated: ${args.output}`);
}

/**
 * The memory lines of model_metadata.py, with figures derived from the config (not mlc_llm's
 * analysis, but stable and plausible): parameters from a transformer's size and the quantization's
 * bits, a temporary buffer from the prefill chunk, the KV cache per token from layers × KV heads.
 */
function reportMemory(config, quantization, overrides) {
  const mc = { ...(config.model_config ?? {}), ...config, ...overrides };
  const layers = mc.num_hidden_layers ?? mc.n_layer ?? mc.num_layers ?? 24;
  const hidden = mc.hidden_size ?? mc.n_embd ?? mc.d_model ?? 2048;
  const heads = mc.num_attention_heads ?? mc.n_head ?? 16;
  const kvHeads = mc.num_key_value_heads ?? heads;
  const headDim = mc.head_dim ?? Math.floor(hidden / heads);
  const vocab = mc.vocab_size > 0 ? mc.vocab_size : 32000;
  const bits = QUANTS.find((q) => q.name === quantization)?.bits_per_weight_on_disk ?? 16;
  const mb = (bytes) => bytes / 1024 / 1024;
  const params = mb(((12 * layers * hidden * hidden + 2 * vocab * hidden) * bits) / 8);
  const temp = mb((mc.prefill_chunk_size > 0 ? mc.prefill_chunk_size : 2048) * (hidden * 4 + vocab) * 4);
  const kv = mb(2 * layers * kvHeads * headDim * 2);
  const f = (x) => x.toFixed(2);
  log(`model_metadata.py:94: Total memory usage without KV cache: ${f(params + temp)} MB (Parameters: ${f(params)} MB. Temporary buffer: ${f(temp)} MB)`);
  log(`model_metadata.py:128: KV cache size: ${f(kv)} MB per token in the context window`);
  log(`model_metadata.py:133: Total memory usage with a 4K KV cache: ${f(params + temp + kv * 4096)} MB`);
  log('model_metadata.py:139: To reduce memory usage, tweak `prefill_chunk_size`, `context_window_size` and `sliding_window_size`');
}

function callLog(entry) {
  if (!process.env.MLC_DOUBLE_LOG) return;
  const fd = openSync(process.env.MLC_DOUBLE_LOG, 'a');
  writeSync(fd, JSON.stringify(entry) + '\n');
  closeSync(fd);
}

if (process.env.MLC_DOUBLE_IGNORE_TERM) process.on('SIGTERM', () => {});
if (process.env.MLC_DOUBLE_ENV_DUMP) appendFileSync(process.env.MLC_DOUBLE_ENV_DUMP, JSON.stringify(process.env) + '\n');
if (process.env.MLC_DOUBLE_CHILDREN) {
  const body = `${process.env.MLC_DOUBLE_CHILD_IGNORE_TERM ? "process.on('SIGTERM', () => {});" : ''} setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', body], { stdio: 'ignore' });
  child.unref();
  appendFileSync(process.env.MLC_DOUBLE_CHILDREN, `${process.pid} ${child.pid}\n`);
}
const [sub, ...rest] = process.argv.slice(2);
const start = Date.now();
SLEEP_MS = sleepMs(sub);
if (process.env.MLC_DOUBLE_STARTS) {
  const line = { sub, args: rest, pid: process.pid, time: start, inputs: inputsDigest(sub, rest) };
  appendFileSync(process.env.MLC_DOUBLE_STARTS, JSON.stringify(line) + '\n');
}
let status = 0;
try {
  if (sub === '-h' || sub === '--help') {
    process.stdout.write(usage() + '\n');
    process.exit(0);
  }
  if (!SPECS[sub]) throw new UsageError(`argument subcommand: invalid choice: '${sub ?? ''}' (choose from 'compile', 'convert_weight', 'gen_config')`);
  const args = parseArgs(sub, rest);
  if (process.env.MLC_DOUBLE_FAIL && new RegExp(process.env.MLC_DOUBLE_FAIL).test(`${sub} ${rest.join(' ')}`)) {
    throw new PyError('RuntimeError', `injected failure for ${sub}`);
  }
  ({ convert_weight: convertWeight, gen_config: genConfig, compile })[sub](args);
} catch (e) {
  if (e instanceof UsageError) {
    process.stdout.write(
      `------------------------- Usage -------------------------\n${usage(SPECS[sub] ? sub : undefined)}\n------------------------- Error -------------------------\n`,
    );
    process.stderr.write(`${e.message}\n`);
    status = 2;
  } else if (e instanceof PyError) {
    process.stderr.write(`Traceback (most recent call last):\n  File "${basename(process.argv[1])}", line 1, in <module>\n${e.kind}: ${e.message}\n`);
    status = 1;
  } else {
    throw e;
  }
}
callLog({ sub, args: rest, cwd: process.cwd(), pid: process.pid, start, end: Date.now(), status });
process.exit(status);
