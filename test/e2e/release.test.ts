// `mlc-build release` end to end: the real CLI, the mlc_llm double, and the tools that read a
// release — `sha256sum -c`, tsc against @mlc-ai/web-llm's AppConfig, the fields mlc_llm package reads.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Project } from '../helpers/project.js';
import { typecheckAppConfig } from '../helpers/web-llm.js';

const exec = promisify(execFile);

const MANIFEST = `version: 1
models:
  qwen: { source: ./hf/qwen, conv_template: qwen2 }
  llama: { source: ./hf/llama, conv_template: llama-3 }
quantizations: [q4f16_1, q4f32_1]
targets:
  - webgpu
  - iphone
  - android
`;
const MODELS = { qwen: { preset: 'qwen2_0_5b', weights: 'safetensors' }, llama: { preset: 'llama3_2_1b', weights: 'safetensors' } } as const;

interface Library {
  cell: string;
  target: string;
  variant: string;
  path: string;
  size: number;
  sha256: string;
  weights: string;
  system_lib_prefix?: string;
  memory: { params_mb: number; temp_buffer_mb: number; kv_cache_mb_per_token: number; kv_tokens: number; vram_required_mb: number; estimated: string[] };
}
interface Inventory {
  date?: string;
  libraries: Library[];
  weights: { path: string; variant: string; files: { path: string; size: number; sha256: string }[] }[];
  missing: { cell: string; reason: string }[];
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p, base)));
    else out.push(p.slice(base.length + 1));
  }
  return out.sort();
}

/** The memory lines the double printed for a compile, from the step's log in the store. */
async function printedMemory(p: Project, cell: string) {
  const log = await readFile(p.path('.mlc-build/logs', `compile_${cell.replace(/[^\w.-]+/g, '_')}.log`), 'utf8');
  const t = /Total memory usage without KV cache: ([\d.]+) MB \(Parameters: ([\d.]+) MB\. Temporary buffer: ([\d.]+) MB\)/.exec(log);
  const kv = /KV cache size: ([\d.]+) MB per token/.exec(log);
  if (!t || !kv) throw new Error(`no memory lines in the log of ${cell}`);
  return { params: Number(t[2]), temp: Number(t[3]), kv: Number(kv[1]), prefix: /--system-lib-prefix "([^"]*)"/.exec(log)?.[1] };
}

describe('release', () => {
  it('writes libraries, weights, SHA256SUMS and release.json; sha256sum -c accepts it and a flipped byte fails it', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['release']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^release\/: 12 libraries, 8 weights folders, \d+ files/);
    const rel = p.path('release');
    const inv = await readJson<Inventory>(join(rel, 'release.json'));
    // Every cell's library, each with the digest of the file in the folder.
    expect(inv.libraries.map((l) => l.cell).sort()).toEqual(
      ['llama', 'qwen'].flatMap((m) => ['q4f16_1', 'q4f32_1'].flatMap((q) => ['android', 'iphone', 'webgpu'].map((t) => `${m}/${q}/${t}`))).sort(),
    );
    for (const lib of inv.libraries) expect(sha256(await readFile(join(rel, lib.path)))).toBe(lib.sha256);
    // Weights are listed per file: shards, tensor-cache.json, the config, tokenizer files, the card.
    const folder = inv.weights.find((w) => w.path === 'qwen-q4f16_1-ctx768-MLC');
    expect(folder?.variant).toBe('ctx768');
    const names = folder?.files.map((f) => basename(f.path)) ?? [];
    expect(names).toEqual(expect.arrayContaining(['tensor-cache.json', 'mlc-chat-config.json', 'tokenizer.json', 'params_shard_0.bin', 'README.md']));
    for (const f of folder?.files ?? []) expect(sha256(await readFile(join(rel, f.path)))).toBe(f.sha256);
    expect(inv.missing).toEqual([]);

    // SHA256SUMS covers every file of the folder but itself.
    const sums = await readFile(join(rel, 'SHA256SUMS'), 'utf8');
    const listed = sums
      .trim()
      .split('\n')
      .map((l) => l.slice(66));
    expect(listed).toEqual((await filesUnder(rel)).filter((f) => f !== 'SHA256SUMS'));
    await exec('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: rel });
    // A changed library (written anew, so the store's blob behind the link stays intact) fails the check.
    const wasm = join(rel, 'libs/qwen-q4f16_1-webgpu.wasm');
    const bytes = Buffer.from(await readFile(wasm));
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(`${wasm}.new`, bytes);
    await rename(`${wasm}.new`, wasm);
    const check = await exec('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: rel }).then(
      () => ({ code: 0, stdout: '' }),
      (e: unknown) => e as { code: number; stdout: string },
    );
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('libs/qwen-q4f16_1-webgpu.wasm: FAILED');
  });

  it('is byte-identical when run twice on the same build; SOURCE_DATE_EPOCH sets its only date', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['release'])).code).toBe(0);
    const first = await Promise.all(['release.json', 'SHA256SUMS', 'web-llm/app-config.json'].map((f) => readFile(p.path('release', f), 'utf8')));
    const again = await p.run(['release']);
    expect(again.code).toBe(0);
    expect(again.calls).toEqual([]); // built already: nothing runs
    const second = await Promise.all(['release.json', 'SHA256SUMS', 'web-llm/app-config.json'].map((f) => readFile(p.path('release', f), 'utf8')));
    expect(second).toEqual(first);
    expect((await readJson<Inventory>(p.path('release/release.json'))).date).toBeUndefined();
    expect((await p.run(['release'], { SOURCE_DATE_EPOCH: '1700000000' })).code).toBe(0);
    expect((await readJson<Inventory>(p.path('release/release.json'))).date).toBe('2023-11-14T22:13:20.000Z');
  });

  it('writes a web-llm app config that type-checks against @mlc-ai/web-llm, naming the built wasm files, with integrity that verifies', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['release', '--base-url', 'https://huggingface.co/org', '--lib-url', 'https://cdn.example.com/libs/']);
    expect(r.code).toBe(0);
    const rel = p.path('release');
    const text = await readFile(join(rel, 'web-llm/app-config.json'), 'utf8');
    const app = JSON.parse(text) as {
      model_list: {
        model: string;
        model_id: string;
        model_lib: string;
        vram_required_MB: number;
        required_features?: string[];
        integrity: { config: string; model_lib: string; tokenizer: Record<string, string> };
      }[];
    };
    const inv = await readJson<Inventory>(join(rel, 'release.json'));
    const wasm = inv.libraries.filter((l) => l.target === 'webgpu');
    expect(app.model_list.map((m) => m.model_lib).sort()).toEqual(wasm.map((l) => `https://cdn.example.com/libs/${basename(l.path)}`).sort());
    const sri = async (file: string) =>
      `sha256-${createHash('sha256')
        .update(await readFile(file))
        .digest('base64')}`;
    for (const m of app.model_list) {
      const lib = wasm.find((l) => m.model_lib.endsWith(`/${basename(l.path)}`)) as Library;
      expect(m.model).toBe(`https://huggingface.co/org/${lib.weights}`);
      expect(m.model_id).toBe(lib.weights);
      expect(m.vram_required_MB).toBe(lib.memory.vram_required_mb);
      expect(m.required_features).toEqual(lib.cell.includes('q4f16_1') ? ['shader-f16'] : undefined);
      expect(m.integrity.model_lib).toBe(await sri(join(rel, lib.path)));
      expect(m.integrity.config).toBe(await sri(join(rel, lib.weights, 'mlc-chat-config.json')));
      for (const [file, hash] of Object.entries(m.integrity.tokenizer)) expect(hash).toBe(await sri(join(rel, lib.weights, file)));
      expect(Object.keys(m.integrity.tokenizer)).toContain('tokenizer.json');
    }

    // tsc against the real AppConfig type; the literal gets excess-property checks too.
    const typecheck = typecheckAppConfig;
    expect(await typecheck(text)).toEqual({ code: 0, stdout: '' });
    // The check can fail: a field of the wrong type, and one web-llm does not know.
    expect((await typecheck(text.replace(/"vram_required_MB": [\d.]+/, '"vram_required_MB": "big"'))).stdout).toContain(
      "Type 'string' is not assignable to type 'number'",
    );
    expect((await typecheck(text.replace('"low_resource_required"', '"low_resource"'))).stdout).toContain('TS2353');
  }, 60_000);

  it('writes an mlc-package-config.json per phone platform: model_lib is the prefix the compile used, prepare-libs paths exist, VRAM from the compile log', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['release'])).code).toBe(0);
    const rel = p.path('release');
    expect(existsSync(join(rel, 'mlc-package/webgpu'))).toBe(false);
    const inv = await readJson<Inventory>(join(rel, 'release.json'));
    for (const device of ['iphone', 'android']) {
      const dir = join(rel, 'mlc-package', device);
      const cfg = await readJson<{
        device: string;
        model_list: {
          model: string;
          model_id: string;
          model_lib: string;
          estimated_vram_bytes: number;
          bundle_weight?: boolean;
          overrides?: Record<string, number>;
        }[];
        model_lib_path_for_prepare_libs: Record<string, string>;
      }>(join(dir, 'mlc-package-config.json'));
      expect(cfg.device).toBe(device);
      const libs = inv.libraries.filter((l) => l.target === device);
      expect(cfg.model_list).toHaveLength(libs.length);
      for (const entry of cfg.model_list) {
        const lib = libs.find((l) => l.weights === entry.model_id) as Library;
        // What the compile used: the prefix the double printed in the step's log.
        const printed = await printedMemory(p, lib.cell);
        expect(`${entry.model_lib}_`).toBe(printed.prefix);
        expect(entry.model_lib).toMatch(/^(qwen2|llama)_q4f(16|32)_1$/);
        // A local folder, bundled: it holds what mlc_llm package needs.
        expect(entry.bundle_weight).toBe(true);
        expect(existsSync(join(resolve(dir, entry.model), 'mlc-chat-config.json'))).toBe(true);
        expect(existsSync(join(resolve(dir, entry.model), 'tensor-cache.json'))).toBe(true);
        expect(entry.overrides?.context_window_size).toBe(768); // the phone presets' ctx768 variant
        const prepared = resolve(dir, cfg.model_lib_path_for_prepare_libs[entry.model_lib] as string);
        expect(prepared).toBe(join(rel, lib.path));
        expect(existsSync(prepared)).toBe(true);
        // parameters + temporary buffer + KV cache per token × the variant's context, in 2^20-byte MB.
        const vram = printed.params + printed.temp + printed.kv * 768;
        expect(lib.memory.estimated).toEqual([]);
        expect(lib.memory.vram_required_mb).toBeCloseTo(vram, 2);
        expect(entry.estimated_vram_bytes).toBe(Math.round(lib.memory.vram_required_mb * 1024 * 1024));
      }
    }
    // Published weights: HF:// names, nothing bundled.
    expect((await p.run(['release', '--base-url', 'https://huggingface.co/org'])).code).toBe(0);
    const hub = await readJson<{ model_list: { model: string; bundle_weight?: boolean }[] }>(join(rel, 'mlc-package/iphone/mlc-package-config.json'));
    expect(hub.model_list.map((m) => m.model)).toContain('HF://org/qwen-q4f16_1-ctx768-MLC');
    expect(hub.model_list.every((m) => m.bundle_weight === undefined)).toBe(true);
  });

  it('stops at libraries of one platform sharing a system-lib prefix; placeholders give each model its own', async () => {
    const manifest = MANIFEST.replace('  - iphone\n', '  - { name: iphone, preset: iphone, system_lib_prefix: shared_ }\n');
    const p = await Project.create(manifest, MODELS);
    const r = await p.run(['release', 'quant=q4f16_1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('llama/q4f16_1/iphone and qwen/q4f16_1/iphone are different libraries with the same system-lib prefix "shared_"');
    expect(r.stderr).toContain('{model}_{quant}_');
    expect(existsSync(p.path('release'))).toBe(false);

    await p.editManifest((y) => y.replace('system_lib_prefix: shared_', 'system_lib_prefix: "{model}_{quant}"'));
    const fixed = await p.run(['release', 'quant=q4f16_1']);
    expect(fixed.code).toBe(0);
    const compiles = fixed.calls.filter((c) => c.sub === 'compile' && c.args.includes('iphone'));
    expect(compiles.map((c) => c.args[c.args.indexOf('--system-lib-prefix') + 1]).sort()).toEqual(['llama_q4f16_1_', 'qwen_q4f16_1_']);
    const cfg = await readJson<{ model_list: { model_lib: string }[] }>(p.path('release/mlc-package/iphone/mlc-package-config.json'));
    expect(cfg.model_list.map((m) => m.model_lib).sort()).toEqual(['llama_q4f16_1', 'qwen_q4f16_1']);
  });

  it('names failed cells and writes nothing; --allow-partial writes the rest and lists them', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['release', 'quant=q4f16_1'], { MLC_DOUBLE_FAIL: 'compile .*--device android' });
    expect(r.code).toBe(1);
    // Fail-fast: the first failure stops the build; the cells it kept from building are named too.
    // How many had started before the failure depends on timing (under load, fewer): at least the two android cells.
    expect(r.stderr).toMatch(/[2-6] of 6 cells have no library; nothing written/);
    expect(r.stderr).toMatch(/(llama|qwen)\/q4f16_1\/android: compile:(llama|qwen)\/q4f16_1\/android failed: exited with code 1/);
    expect(existsSync(p.path('release'))).toBe(false);

    const partial = await p.run(['release', 'quant=q4f16_1', '--allow-partial'], { MLC_DOUBLE_FAIL: 'compile .*--device android' });
    expect(partial.code).toBe(0);
    const inv = await readJson<Inventory>(p.path('release/release.json'));
    expect(inv.missing.map((m) => m.cell)).toEqual(['llama/q4f16_1/android', 'qwen/q4f16_1/android']);
    expect(inv.libraries.map((l) => l.cell)).not.toContain('qwen/q4f16_1/android');
    expect(existsSync(p.path('release/mlc-package/android'))).toBe(false);
    await exec('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: p.path('release') });
  });

  it('names the cells this host cannot build', async () => {
    const p = await Project.create(MANIFEST.replace('  - android\n', '  - android\n  - cuda\n'), MODELS);
    const r = await p.run(['release', 'model=qwen', 'quant=q4f16_1'], { MLC_BUILD_ALL_HOSTS: '', PATH: '/usr/bin:/bin' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/qwen\/q4f16_1\/cuda: cannot be built on this host: cuda needs/);
    expect(r.stderr).toMatch(/qwen\/q4f16_1\/iphone: cannot be built on this host: iphone needs macOS/);
    expect(existsSync(p.path('release'))).toBe(false);
  });

  it('estimates the figures when the compile log has no memory lines, and says which', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['release', 'model=qwen', 'quant=q4f16_1', 'target=webgpu'], { MLC_DOUBLE_NO_MEMORY: '1' })).code).toBe(0);
    const inv = await readJson<Inventory>(p.path('release/release.json'));
    const [lib] = inv.libraries;
    expect(lib?.memory.estimated).toEqual(['params', 'temp_buffer', 'kv_cache']);
    const cache = await readJson<{ metadata: { ParamBytes: number } }>(p.path('release/qwen-q4f16_1-MLC/tensor-cache.json'));
    expect(lib?.memory.params_mb).toBeCloseTo(cache.metadata.ParamBytes / 2 ** 20, 2);
    // qwen2-0.5b: 24 layers × 2 KV heads × 64 dims × K and V × 2 bytes.
    expect(lib?.memory.kv_cache_mb_per_token).toBeCloseTo((24 * 2 * 64 * 2 * 2) / 2 ** 20, 6);
    expect(lib?.memory.kv_tokens).toBe(32768); // its max_position_embeddings
  });

  it('writes a model card with Hugging Face front matter in each weights folder', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['release', 'model=qwen', 'quant=q4f16_1'])).code).toBe(0);
    const card = await readFile(p.path('release/qwen-q4f16_1-ctx768-MLC/README.md'), 'utf8');
    expect(card).toMatch(/^---\nlibrary_name: mlc-llm\ntags:\n- mlc-llm\n- web-llm\n---\n/);
    expect(card).not.toContain('base_model'); // a local source has none
    expect(card).toContain('`q4f16_1`');
    expect(card).toContain('libs/qwen-q4f16_1-iphone.tar');
  });

  it('replaces an earlier release whole, and refuses a folder that is not one', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run(['release', 'model=qwen'])).code).toBe(0);
    expect((await p.run(['release', 'model=llama', 'quant=q4f16_1'])).code).toBe(0);
    const inv = await readJson<Inventory>(p.path('release/release.json'));
    expect(new Set(inv.libraries.map((l) => l.cell.split('/')[0]))).toEqual(new Set(['llama']));
    expect(existsSync(p.path('release/qwen-q4f16_1-MLC'))).toBe(false);
    expect((await readdir(p.dir)).filter((f) => f.includes('.tmp') || f.includes('.old'))).toEqual([]);

    await mkdir(p.path('notes'));
    await writeFile(p.path('notes/todo.txt'), 'mine');
    const refused = await p.run(['release', '--out', 'notes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('exists and is not a release');
    expect(await readFile(p.path('notes/todo.txt'), 'utf8')).toBe('mine');
    const bad = await p.run(['release', 'step=compile']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('a release is made of cells');
  });
});
