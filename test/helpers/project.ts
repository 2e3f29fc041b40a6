// A build project on disk: local model folders made from real HF configs, the mlc_llm double as the
// toolchain, and its call log.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES, run, tempProject, type RunResult } from './cli.js';

export const DOUBLE = fileURLToPath(new URL('../double/mlc_llm.mjs', import.meta.url));

export interface Call {
  sub: 'convert_weight' | 'gen_config' | 'compile';
  args: string[];
  status: number;
  pid: number;
  start: number;
  end: number;
}

export class Project {
  constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
  ) {}

  static async create(manifest: string, models: Record<string, { preset: string; weights: 'safetensors' | 'bin' }>): Promise<Project> {
    const dir = await tempProject({ 'mlc.build.yaml': manifest });
    for (const [name, m] of Object.entries(models)) await writeModel(join(dir, 'hf', name), m.preset, m.weights);
    // webgpu compiles need the web runtime from an mlc_llm source checkout.
    await mkdir(join(dir, 'mlc-llm-src/web/dist/wasm'), { recursive: true });
    await writeFile(join(dir, 'mlc-llm-src/web/dist/wasm/mlc_wasm_runtime.bc'), 'bitcode v1');
    return new Project(dir, {
      MLC_BUILD_MLC_LLM: DOUBLE,
      MLC_BUILD_ALL_HOSTS: '1', // the double builds for every platform
      MLC_DOUBLE_LOG: join(dir, 'calls.log'),
      MLC_DOUBLE_SHARD_CAP: '65536',
      MLC_LLM_SOURCE_DIR: join(dir, 'mlc-llm-src'),
      XDG_CACHE_HOME: join(dir, '.xdg-cache'), // where no-op stamps go
    });
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Runs mlc-build; returns its result and the mlc_llm calls it made. */
  async run(args: string[] = [], env: Record<string, string> = {}): Promise<RunResult & { calls: Call[] }> {
    await writeFile(this.env.MLC_DOUBLE_LOG as string, '');
    const r = await run(args, { cwd: this.dir, env: { ...this.env, ...env } });
    return { ...r, calls: await this.calls() };
  }

  /** The mlc_llm calls logged since the last `run` (or since the project was made). */
  async calls(): Promise<Call[]> {
    const text = await readFile(this.env.MLC_DOUBLE_LOG as string, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Call);
  }

  async editManifest(edit: (yaml: string) => string): Promise<void> {
    const file = this.path('mlc.build.yaml');
    await writeFile(file, edit(await readFile(file, 'utf8')));
  }
}

/** A model folder: a real config.json, tokenizer files and small deterministic weights. */
export async function writeModel(dir: string, preset: string, weights: 'safetensors' | 'bin'): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(join(FIXTURES, 'hf-configs', `${preset}.json`), join(dir, 'config.json'));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE' }, decoder: { type: 'ByteLevel' } }));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 2048 }));
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.7, top_p: 0.9 }));
  const bytes = Buffer.alloc(150_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + preset.length) & 0xff;
  if (weights === 'safetensors') {
    await writeFile(join(dir, 'model.safetensors'), bytes);
  } else {
    await writeFile(join(dir, 'pytorch_model-00001-of-00002.bin'), bytes.subarray(0, 70_000));
    await writeFile(join(dir, 'pytorch_model-00002-of-00002.bin'), bytes.subarray(70_000));
    await writeFile(
      join(dir, 'pytorch_model.bin.index.json'),
      JSON.stringify({ weight_map: { 'a.weight': 'pytorch_model-00001-of-00002.bin', 'b.weight': 'pytorch_model-00002-of-00002.bin' } }),
    );
  }
}

export const count = (calls: Call[], sub: Call['sub']): number => calls.filter((c) => c.sub === sub).length;
