// A release folder made in-process from a real build with the mlc_llm double: what the build left
// (collect), the release's files (assemble) and the folder written whole (write), asserted as a
// user finds them — the files, SHA256SUMS, release.json, web-llm's app config, the package
// configs, the model cards, and the cells reported missing with why. (test/e2e/release.test.ts
// runs the same through the CLI; these run in the test process, where mutation testing sees them.)
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openContext } from '../../src/app/context.js';
import { loadProject, type Project as LoadedProject } from '../../src/app/project.js';
import { runBuild } from '../../src/exec/build.js';
import type { BuildContext } from '../../src/exec/context.js';
import type { NodeResult } from '../../src/exec/tally.js';
import { cellNodes, withDependencies } from '../../src/graph/select.js';
import { readLock } from '../../src/lockfile/lock-file.js';
import { assemble, type Assembled, type ReleaseSettings } from '../../src/release/assemble.js';
import { collect, type Collected, type LibraryEntry, type WeightsEntry } from '../../src/release/collect.js';
import { libraryFigures } from '../../src/release/figures.js';
import { modelCard } from '../../src/release/model-card.js';
import { packageConfigs } from '../../src/release/package-config.js';
import { webLlmAppConfig } from '../../src/release/web-llm.js';
import { replaceProblem, writeRelease } from '../../src/release/write.js';
import { parseSource } from '../../src/manifest/source-spec.js';
import type { Result } from '../../src/result.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';
import { Project } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  qwen: { source: ./hf/qwen, conv_template: qwen2 }
quantizations: [q4f16_1]
targets: [iphone, android, webgpu]
`;
const TOOLCHAIN = { fingerprint: 'f0'.repeat(32), python: '3.11', packages: { 'mlc-ai-nightly-cpu': '0.1.dev5', 'mlc-llm-nightly-cpu': '0.1.dev7' } };
const BASE = 'qwen-q4f16_1-MLC';
const CTX768 = 'qwen-q4f16_1-ctx768-MLC';
const WEIGHT_FILES = ['mlc-chat-config.json', 'params_shard_0.bin', 'tensor-cache.json', 'tokenizer.json', 'tokenizer_config.json'];

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sri = (b: Buffer | string) => `sha256-${createHash('sha256').update(b).digest('base64')}`;
const json = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;

interface Library {
  cell: string;
  model: string;
  quantization: string;
  variant: string;
  target: string;
  device: string;
  path: string;
  size: number;
  sha256: string;
  weights: string;
  system_lib_prefix?: string;
  memory: { vram_required_mb: number; estimated: string[] };
  buffer_size_required_bytes: number;
  low_resource_required: boolean;
}
interface Inventory {
  generator: string;
  date?: string;
  manifest: { file: string; sha256: string };
  toolchain: typeof TOOLCHAIN;
  sources: { model: string; source: string; revision?: string; commit?: string }[];
  libraries: Library[];
  weights: { model: string; quantization: string; variant: string; path: string; files: { path: string; size: number; sha256: string }[] }[];
  configs: { path: string; sha256: string }[];
  missing: { cell: string; reason: string }[];
  published?: unknown;
}
interface AppConfig {
  model_list: {
    model: string;
    model_id: string;
    model_lib: string;
    overrides?: Record<string, number>;
    vram_required_MB: number;
    low_resource_required: boolean;
    buffer_size_required_bytes: number;
    required_features?: string[];
    integrity: { config: string; model_lib: string; tokenizer?: Record<string, string> };
  }[];
}
interface PackageConfig {
  device: string;
  model_list: {
    model: string;
    model_id: string;
    model_lib: string;
    estimated_vram_bytes: number;
    overrides?: Record<string, number>;
    bundle_weight?: boolean;
  }[];
  model_lib_path_for_prepare_libs: Record<string, string>;
}

let disk: Project;
let project: LoadedProject;
let built: Map<string, NodeResult>;

beforeAll(async () => {
  disk = await Project.create(MANIFEST, { qwen: { preset: 'qwen2_0_5b', weights: 'safetensors' } });
  for (const [k, v] of Object.entries(disk.env)) vi.stubEnv(k, v);
  const loaded = await loadProject({ cwd: disk.dir, env: process.env });
  if (!loaded.ok) throw new Error(loaded.error.map((d) => d.message).join('\n'));
  project = loaded.value;
  built = await build();
});

/** A build of every cell, as `mlc-build build` runs it: what it made of each node. */
async function build(): Promise<Map<string, NodeResult>> {
  const ctx = await openContext(project, { readOnly: false });
  try {
    const selected = withDependencies(project.graph, cellNodes(project.graph, project.manifest.cells));
    const signal = new AbortController().signal;
    const outcome = await runBuild(ctx, selected, { jobs: 4, keepGoing: false, signal, machine: { cpus: 2, gpus: 0 } }, () => undefined);
    const failed = [...outcome.results.values()].filter((r) => r.status === 'failed');
    if (failed.length > 0) throw new Error(`the build failed: ${failed.map((r) => `${r.node}: ${r.failure?.message ?? ''}`).join('; ')}`);
    return outcome.results;
  } finally {
    await ctx.store.close();
  }
}
afterAll(() => {
  vi.unstubAllEnvs();
});

interface Release {
  collected: Collected;
  assembled: Result<Assembled, string[]>;
  /** The folder, written if the release was assembled. */
  dir: string;
}

/**
 * Collects what the build left (`results`, else the build's), assembles the release with these
 * settings and writes it (into `dir`, else a new folder); `verify` as `release --verify` does.
 */
async function release(
  settings: Partial<ReleaseSettings> = {},
  opts: { results?: ReadonlyMap<string, NodeResult>; dir?: string; verify?: boolean } = {},
): Promise<Release> {
  const { results = built, dir, verify = false } = opts;
  const ctx = await openContext(project, { readOnly: true, verify });
  try {
    const collected = await collect(ctx, project.manifest.cells, results);
    const assembled = assemble(ctx, collected, {
      lowResourceMB: 3072,
      generator: 'mlc-build 0.1.0',
      manifestFile: 'mlc.build.yaml',
      manifestDigest: 'ab'.repeat(32),
      toolchain: TOOLCHAIN,
      lock: await readLock(disk.dir),
      env: {},
      ...settings,
    });
    const out = dir ?? join(await tempDir('mlc-build-release-'), 'release');
    if (assembled.ok) {
      const written = await writeRelease(out, assembled.value.contents);
      if (!written.ok) throw new Error(written.error);
    }
    return { collected, assembled, dir: out };
  } finally {
    await ctx.store.close();
  }
}

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p, base)));
    else out.push(p.slice(base.length + 1));
  }
  return out.sort();
}

/** The results of the build with one node's replaced. */
function withResult(node: string, result: Partial<NodeResult>): Map<string, NodeResult> {
  const results = new Map(built);
  results.set(node, { ...(built.get(node) as NodeResult), ...result });
  return results;
}

describe('a release folder', () => {
  it("holds each cell's library and weights folder, a card per folder, the configs, release.json, and SHA256SUMS over every other file", async () => {
    const r = await release();
    if (!r.assembled.ok) throw new Error(r.assembled.error.join('\n'));
    const files = await filesUnder(r.dir);
    expect(files).toEqual(
      [
        'SHA256SUMS',
        'libs/qwen-q4f16_1-android.tar',
        'libs/qwen-q4f16_1-iphone.tar',
        'libs/qwen-q4f16_1-webgpu.wasm',
        'mlc-package/android/mlc-package-config.json',
        'mlc-package/iphone/mlc-package-config.json',
        ...[BASE, CTX768].flatMap((f) => ['README.md', ...WEIGHT_FILES].map((n) => `${f}/${n}`)),
        'release.json',
        'web-llm/app-config.json',
      ].sort(),
    );
    // SHA256SUMS as sha256sum -c reads it: every other file, sorted, with its digest.
    const sums = await readFile(join(r.dir, 'SHA256SUMS'), 'utf8');
    const expected = await Promise.all(files.filter((f) => f !== 'SHA256SUMS').map(async (f) => `${sha256(await readFile(join(r.dir, f)))}  ${f}\n`));
    expect(sums).toBe(expected.join(''));
    const sizes = await Promise.all(files.map(async (f) => (await readFile(join(r.dir, f))).length));
    expect(r.assembled.value).toMatchObject({ libraries: 3, weights: 2, files: files.length, bytes: sizes.reduce((a, b) => a + b, 0) });
  });

  it('release.json lists each library and weights file with the digest and size of the file in the folder, and what it was made from', async () => {
    const r = await release();
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    expect(inv).toMatchObject({
      generator: 'mlc-build 0.1.0',
      manifest: { file: 'mlc.build.yaml', sha256: 'ab'.repeat(32) },
      toolchain: TOOLCHAIN,
      sources: [{ model: 'qwen', source: 'hf/qwen' }],
      missing: [],
    });
    expect(inv.date).toBeUndefined(); // a release has no date of its own
    expect(inv.published).toBeUndefined();
    expect(inv.libraries.map((l) => [l.cell, l.model, l.quantization, l.target, l.device, l.variant, l.weights, l.path])).toEqual([
      ['qwen/q4f16_1/android', 'qwen', 'q4f16_1', 'android', 'android', 'ctx768', CTX768, 'libs/qwen-q4f16_1-android.tar'],
      ['qwen/q4f16_1/iphone', 'qwen', 'q4f16_1', 'iphone', 'iphone', 'ctx768', CTX768, 'libs/qwen-q4f16_1-iphone.tar'],
      ['qwen/q4f16_1/webgpu', 'qwen', 'q4f16_1', 'webgpu', 'webgpu', 'base', BASE, 'libs/qwen-q4f16_1-webgpu.wasm'],
    ]);
    for (const l of inv.libraries) {
      const bytes = await readFile(join(r.dir, l.path));
      expect([l.sha256, l.size]).toEqual([sha256(bytes), bytes.length]);
      expect(l.memory.estimated).toEqual([]); // the double's compile printed its memory
    }
    // Phone libraries name the system-lib prefix their symbols carry (mlc_llm's rule: model type, quantization).
    expect(inv.libraries.map((l) => l.system_lib_prefix)).toEqual(['qwen2_q4f16_1_', 'qwen2_q4f16_1_', undefined]);
    // The largest parameter array the runtime binds, from tensor-cache.json.
    const cache = await json<{ records: { records: { nbytes: number }[] }[] }>(join(r.dir, BASE, 'tensor-cache.json'));
    const largest = Math.max(...cache.records.flatMap((s) => s.records.map((x) => x.nbytes)));
    expect(largest).toBeGreaterThan(0);
    for (const l of inv.libraries) expect(l.buffer_size_required_bytes).toBe(largest);

    expect(inv.weights.map((w) => [w.path, w.model, w.quantization, w.variant])).toEqual([
      [BASE, 'qwen', 'q4f16_1', 'base'],
      [CTX768, 'qwen', 'q4f16_1', 'ctx768'],
    ]);
    for (const w of inv.weights) {
      expect(w.files.map((f) => f.path)).toEqual(['README.md', ...WEIGHT_FILES].map((n) => `${w.path}/${n}`));
      for (const f of w.files) {
        const bytes = await readFile(join(r.dir, f.path));
        expect([f.sha256, f.size]).toEqual([sha256(bytes), bytes.length]);
      }
    }
    expect(inv.configs.map((c) => c.path)).toEqual([
      'web-llm/app-config.json',
      'mlc-package/android/mlc-package-config.json',
      'mlc-package/iphone/mlc-package-config.json',
    ]);
    for (const c of inv.configs) expect(c.sha256).toBe(sha256(await readFile(join(r.dir, c.path))));
  });

  it('is the same bytes when made twice; SOURCE_DATE_EPOCH gives it its only date; the lock names the source’s revision and commit', async () => {
    const [a, b] = [await release(), await release()];
    for (const f of ['release.json', 'SHA256SUMS', 'web-llm/app-config.json', `${CTX768}/README.md`])
      expect(await readFile(join(b.dir, f), 'utf8')).toBe(await readFile(join(a.dir, f), 'utf8'));
    const dated = await release({ env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect((await json<Inventory>(join(dated.dir, 'release.json'))).date).toBe('2023-11-14T22:13:20.000Z');
    for (const epoch of ['yesterday', '1700000000x', 'x1700000000']) {
      const undated = await release({ env: { SOURCE_DATE_EPOCH: epoch } });
      expect((await json<Inventory>(join(undated.dir, 'release.json'))).date).toBeUndefined();
    }

    const commit = 'c'.repeat(40);
    const text = project.manifest.models[0]?.source.text ?? '';
    const pinned = await release({ lock: { version: 1, sources: { [text]: { kind: 'hf', revision: 'main', commit, files: {} } } } });
    expect((await json<Inventory>(join(pinned.dir, 'release.json'))).sources).toEqual([{ model: 'qwen', source: 'hf/qwen', revision: 'main', commit }]);
    expect(await readFile(join(pinned.dir, BASE, 'README.md'), 'utf8')).toContain(`| Source | \`hf/qwen\` at \`${commit}\` |`);
  });

  it('a model card per weights folder: front matter for the hub, the build’s facts, and the libraries that run these weights', async () => {
    const r = await release();
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    const mb = (cell: string) => Math.ceil(inv.libraries.find((l) => l.cell === cell)?.memory.vram_required_mb ?? 0);
    expect(await readFile(join(r.dir, CTX768, 'README.md'), 'utf8')).toBe(
      [
        '---',
        'library_name: mlc-llm',
        'tags:',
        '- mlc-llm',
        '- web-llm',
        '---',
        '',
        `# ${CTX768}`,
        '',
        '`qwen` converted to MLC format with quantization `q4f16_1`, built with mlc-build.',
        '',
        '| | |',
        '|---|---|',
        '| Quantization | `q4f16_1` |',
        '| Variant | `ctx768` |',
        '| Source | `hf/qwen` |',
        '| Toolchain | mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7; fingerprint `f0f0f0f0f0f0f0f0` |',
        '',
        '## Libraries built for these weights',
        '',
        `- \`libs/qwen-q4f16_1-android.tar\` (android, device \`android\`, about ${mb('qwen/q4f16_1/android')} MB of GPU memory)`,
        `- \`libs/qwen-q4f16_1-iphone.tar\` (iphone, device \`iphone\`, about ${mb('qwen/q4f16_1/iphone')} MB of GPU memory)`,
        '',
      ].join('\n'),
    );
    const base = await readFile(join(r.dir, BASE, 'README.md'), 'utf8');
    expect(base).toContain('| Variant | base |');
    expect(base).toContain('- `libs/qwen-q4f16_1-webgpu.wasm` (webgpu, device `webgpu`, about');
    // Without versions (a toolchain that is not Python), the fingerprint alone.
    const bare = await release({ toolchain: { fingerprint: 'e1'.repeat(32), packages: {} } });
    expect(await readFile(join(bare.dir, BASE, 'README.md'), 'utf8')).toContain('| Toolchain | fingerprint `e1e1e1e1e1e1e1e1` |');
  });
});

describe("web-llm's app config", () => {
  it('lists each webgpu library with its weights, the figures web-llm checks and integrity that verifies', async () => {
    const r = await release();
    const app = await json<AppConfig>(join(r.dir, 'web-llm/app-config.json'));
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    const lib = inv.libraries.find((l) => l.target === 'webgpu') as Library;
    const chat = await json<{ context_window_size: number; tokenizer_files: string[] }>(join(r.dir, BASE, 'mlc-chat-config.json'));
    expect(chat.tokenizer_files).toEqual(expect.arrayContaining(['tokenizer.json', 'tokenizer_config.json']));
    const tokenizer: Record<string, string> = {};
    for (const t of chat.tokenizer_files.filter((t) => existsSync(join(r.dir, BASE, t))).sort()) tokenizer[t] = sri(await readFile(join(r.dir, BASE, t)));
    expect(app.model_list).toEqual([
      {
        model: BASE, // relative to the release, without --base-url
        model_id: BASE,
        model_lib: 'libs/qwen-q4f16_1-webgpu.wasm',
        overrides: { context_window_size: chat.context_window_size },
        vram_required_MB: lib.memory.vram_required_mb,
        low_resource_required: false,
        buffer_size_required_bytes: lib.buffer_size_required_bytes,
        required_features: ['shader-f16'], // q4f16_1 computes in float16
        integrity: {
          config: sri(await readFile(join(r.dir, BASE, 'mlc-chat-config.json'))),
          model_lib: sri(await readFile(join(r.dir, lib.path))),
          tokenizer,
        },
      },
    ]);
  });

  it('points at the published weights and libraries: --base-url and --lib-url, or each one’s own pinned URL', async () => {
    const r = await release({ baseUrl: 'https://huggingface.co/org/', libUrl: 'https://cdn.example.com/libs//' });
    const [entry] = (await json<AppConfig>(join(r.dir, 'web-llm/app-config.json'))).model_list;
    expect([entry?.model, entry?.model_lib]).toEqual([`https://huggingface.co/org/${BASE}`, 'https://cdn.example.com/libs/qwen-q4f16_1-webgpu.wasm']);
    const pinned = await release({
      baseUrl: 'https://huggingface.co/org',
      weightsUrl: (folder) => `https://huggingface.co/org/${folder}/resolve/abc`,
      libraryUrl: (l) => `https://huggingface.co/org/libs/resolve/def/${l.file.path}`,
    });
    const [p] = (await json<AppConfig>(join(pinned.dir, 'web-llm/app-config.json'))).model_list;
    expect([p?.model, p?.model_lib]).toEqual([
      `https://huggingface.co/org/${BASE}/resolve/abc`,
      'https://huggingface.co/org/libs/resolve/def/libs/qwen-q4f16_1-webgpu.wasm',
    ]);
  });

  it('low_resource_required: true for a library that needs at most --low-resource-mb, in the app config and in release.json alike', async () => {
    const vram = (await json<Inventory>(join((await release()).dir, 'release.json'))).libraries.map((l) => [l.target, l.memory.vram_required_mb] as const);
    const webgpu = (vram.find(([t]) => t === 'webgpu') as readonly [string, number])[1];
    const phone = (vram.find(([t]) => t === 'iphone') as readonly [string, number])[1];
    expect(phone).toBeLessThan(webgpu);
    const flags = async (lowResourceMB: number) => {
      const r = await release({ lowResourceMB });
      const inv = await json<Inventory>(join(r.dir, 'release.json'));
      const app = await json<AppConfig>(join(r.dir, 'web-llm/app-config.json'));
      return { inventory: inv.libraries.map((l) => [l.target, l.low_resource_required]), app: app.model_list.map((m) => m.low_resource_required) };
    };
    expect(await flags(webgpu)).toEqual({
      inventory: [
        ['android', true],
        ['iphone', true],
        ['webgpu', true],
      ],
      app: [true],
    }); // exactly the limit fits
    expect(await flags(webgpu - 0.01)).toEqual({
      inventory: [
        ['android', true],
        ['iphone', true],
        ['webgpu', false],
      ],
      app: [false],
    });
    expect(await flags(phone - 0.01)).toEqual({
      inventory: [
        ['android', false],
        ['iphone', false],
        ['webgpu', false],
      ],
      app: [false],
    });
  });
});

describe('mlc-package-config.json', () => {
  it('per phone platform: model_lib is the prefix the library carries, its .tar to link, the weights bundled, the VRAM in bytes', async () => {
    const r = await release();
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    for (const device of ['iphone', 'android']) {
      const dir = join(r.dir, 'mlc-package', device);
      const cfg = await json<PackageConfig>(join(dir, 'mlc-package-config.json'));
      const lib = inv.libraries.find((l) => l.target === device) as Library;
      expect(cfg).toEqual({
        device,
        model_list: [
          {
            model: `../../${CTX768}`,
            model_id: CTX768,
            model_lib: 'qwen2_q4f16_1',
            estimated_vram_bytes: Math.round(lib.memory.vram_required_mb * 2 ** 20),
            overrides: { context_window_size: 768, prefill_chunk_size: 768 }, // the phone presets' window
            bundle_weight: true,
          },
        ],
        model_lib_path_for_prepare_libs: { qwen2_q4f16_1: `../../${lib.path}` },
      });
      expect(`${cfg.model_list[0]?.model_lib ?? ''}_`).toBe(lib.system_lib_prefix);
      expect(existsSync(join(resolve(dir, cfg.model_list[0]?.model ?? ''), 'mlc-chat-config.json'))).toBe(true);
      expect(resolve(dir, cfg.model_lib_path_for_prepare_libs.qwen2_q4f16_1 ?? '')).toBe(join(r.dir, lib.path));
    }
  });

  it('names the hub repositories of published weights (HF://ORG/folder), bundling nothing', async () => {
    for (const [baseUrl, org] of [
      ['https://huggingface.co/org', 'org'],
      ['HF://org2/', 'org2'],
    ] as const) {
      const r = await release({ baseUrl });
      const cfg = await json<PackageConfig>(join(r.dir, 'mlc-package/iphone/mlc-package-config.json'));
      expect(cfg.model_list.map((m) => [m.model, m.bundle_weight])).toEqual([[`HF://${org}/${CTX768}`, undefined]]);
    }
    const repo = await release({ baseUrl: 'https://huggingface.co/org', weightsRepo: (folder) => `pub/${folder.toLowerCase()}` });
    const cfg = await json<PackageConfig>(join(repo.dir, 'mlc-package/android/mlc-package-config.json'));
    expect(cfg.model_list.map((m) => m.model)).toEqual([`HF://pub/${CTX768.toLowerCase()}`]);
    // Not the hub: the weights stay in the release, bundled.
    const cdn = await release({ baseUrl: 'https://cdn.example.com/models' });
    expect((await json<PackageConfig>(join(cdn.dir, 'mlc-package/iphone/mlc-package-config.json'))).model_list[0]).toMatchObject({
      model: `../../${CTX768}`,
      bundle_weight: true,
    });
  });

  it('refuses a prefix mlc_llm package cannot find, and two libraries of one platform sharing a prefix', async () => {
    const ctx = await openContext(project, { readOnly: true });
    try {
      const { libraries, weights } = await collect(ctx, project.manifest.cells, built);
      const byFolder = new Map(weights.map((w) => [w.folder, w]));
      const figuresWith = (prefix: (cell: string) => string, libs = libraries) =>
        new Map(
          libs.map((l) => [l, { ...libraryFigures(l, byFolder.get(l.weights) as (typeof weights)[number], ctx, 3072), systemLibPrefix: prefix(l.cell.id) }]),
        );
      const iphone = libraries.filter((l) => l.target.name === 'iphone');
      const noUnderscore = packageConfigs(
        iphone,
        byFolder,
        figuresWith(() => 'qwen2'),
        undefined,
      );
      expect(noUnderscore.ok ? [] : noUnderscore.error).toEqual([
        'qwen/q4f16_1/iphone: system-lib prefix "qwen2" does not end in "_", so mlc_llm package cannot find its library; end target iphone\'s system_lib_prefix with "_"',
      ]);
      const tooShort = packageConfigs(
        iphone,
        byFolder,
        figuresWith(() => '_'),
        undefined,
      );
      expect(tooShort.ok).toBe(false);
      // Another cell's library with the same prefix on the same platform: they would collide in one app.
      const other = iphone.map((l) => ({ ...l, cell: { ...l.cell, id: 'llama/q4f16_1/iphone' }, file: { ...l.file, digest: 'd'.repeat(64) } }));
      const both = [...iphone, ...other];
      const clash = packageConfigs(
        both,
        byFolder,
        figuresWith(() => 'shared_', both),
        undefined,
      );
      expect(clash.ok ? [] : clash.error).toEqual([
        'iphone: qwen/q4f16_1/iphone and llama/q4f16_1/iphone are different libraries with the same system-lib prefix "shared_"; linked into one app they collide. Give target iphone a system_lib_prefix with placeholders, e.g. "{model}_{quant}_"',
      ]);
      // The same library twice (one file, one prefix) is no clash.
      const same = [...iphone, ...iphone.map((l) => ({ ...l, cell: { ...l.cell, id: 'qwen/q4f16_1/iphone-copy' } }))];
      expect(
        packageConfigs(
          same,
          byFolder,
          figuresWith(() => 'shared_', same),
          undefined,
        ).ok,
      ).toBe(true);
      // A phone target that builds a shared library (android:adreno-so) links into no app: no config.
      const shared = libraries.filter((l) => l.target.name === 'android').map((l) => ({ ...l, target: { ...l.target, ext: 'so' } }));
      const none = packageConfigs(
        shared,
        byFolder,
        figuresWith(() => 'qwen2_q4f16_1_', shared),
        undefined,
      );
      expect(none.ok && none.value).toEqual([]);
    } finally {
      await ctx.store.close();
    }
  });
});

describe('cells without a complete result', () => {
  it('are reported missing with why, and the release holds the rest', async () => {
    const failure = { reason: 'step-failed' as const, message: 'exited with code 1' };
    const results = withResult('compile:qwen/q4f16_1/android', { status: 'failed', failure });
    const r = await release({}, { results });
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    expect(inv.missing).toEqual([{ cell: 'qwen/q4f16_1/android', reason: 'compile:qwen/q4f16_1/android failed: exited with code 1' }]);
    expect(inv.libraries.map((l) => l.cell)).toEqual(['qwen/q4f16_1/iphone', 'qwen/q4f16_1/webgpu']);
    expect(existsSync(join(r.dir, 'mlc-package/android'))).toBe(false);
    expect(existsSync(join(r.dir, 'libs/qwen-q4f16_1-android.tar'))).toBe(false);

    const skipped = await release({}, { results: withResult('config:qwen/q4f16_1/ctx768', { status: 'skipped', reason: 'a dependency failed' }) });
    expect(skipped.collected.missing).toEqual([
      { cell: 'qwen/q4f16_1/iphone', reason: 'config:qwen/q4f16_1/ctx768 skipped: a dependency failed' },
      { cell: 'qwen/q4f16_1/android', reason: 'config:qwen/q4f16_1/ctx768 skipped: a dependency failed' },
    ]);
    // Without the phones, their weights folder is not released either; release.json lists the missing cells sorted.
    const skippedInventory = await json<Inventory>(join(skipped.dir, 'release.json'));
    expect(skippedInventory.weights.map((w) => w.path)).toEqual([BASE]);
    expect(skippedInventory.missing.map((m) => m.cell)).toEqual(['qwen/q4f16_1/android', 'qwen/q4f16_1/iphone']);
    const interrupted = await release({}, { results: withResult('convert:qwen/q4f16_1', { status: 'interrupted' }) });
    expect(interrupted.collected.missing.map((m) => m.reason)).toEqual(Array(3).fill('convert:qwen/q4f16_1 interrupted'));
  });

  it('a node the build did not reach, one without a key, and one whose result is nowhere are each named', async () => {
    const notBuilt = new Map(built);
    notBuilt.delete('compile:qwen/q4f16_1/webgpu');
    expect((await release({}, { results: notBuilt })).collected.missing).toEqual([{ cell: 'qwen/q4f16_1/webgpu', reason: 'not built' }]);
    const keyless = await release({}, { results: withResult('compile:qwen/q4f16_1/webgpu', { key: undefined }) });
    expect(keyless.collected.missing).toEqual([{ cell: 'qwen/q4f16_1/webgpu', reason: 'compile:qwen/q4f16_1/webgpu has no key' }]);
    const nowhere = await release({}, { results: withResult('compile:qwen/q4f16_1/webgpu', { key: '0'.repeat(64) }) });
    expect(nowhere.collected.missing).toEqual([
      { cell: 'qwen/q4f16_1/webgpu', reason: 'compile:qwen/q4f16_1/webgpu: its result is neither in the store nor recorded in out/' },
    ]);
    // With no cell complete: nothing to release but the list of what is missing.
    const none = await release({}, { results: new Map() });
    const inv = await json<Inventory>(join(none.dir, 'release.json'));
    expect([inv.libraries, inv.weights, inv.configs, inv.missing.map((m) => m.reason)]).toEqual([[], [], [], ['not built', 'not built', 'not built']]);
    expect(await filesUnder(none.dir)).toEqual(['SHA256SUMS', 'release.json']);
  });

  it('a weights file whose store blob is gone and whose copy in out/ changed: its cells are missing, never released without it', async () => {
    const ctx = await openContext(project, { readOnly: true });
    const outCopy = join(project.manifest.out, CTX768, 'tokenizer_config.json');
    const baseCopy = join(project.manifest.out, BASE, 'tokenizer_config.json');
    const original = await readFile(outCopy);
    const blob = ctx.store.blobPath(sha256(original));
    await ctx.store.close();
    const kept = `${blob}.kept`;
    await rename(blob, kept);
    try {
      // The copy in out/ edited (a file of its own now, not the store's): the base folder's copy still holds the recorded bytes.
      await rm(outCopy, { force: true });
      await writeFile(outCopy, '{"model_max_length": 1}');
      const r = await release();
      expect(r.collected.missing.map((m) => m.cell)).toEqual(['qwen/q4f16_1/iphone', 'qwen/q4f16_1/android']);
      for (const m of r.collected.missing)
        expect(m.reason).toMatch(/tokenizer_config\.json does not match its recorded digest [0-9a-f]{12} and the store lacks it \(build again\)/);
      const inv = await json<Inventory>(join(r.dir, 'release.json'));
      expect(inv.libraries.map((l) => l.cell)).toEqual(['qwen/q4f16_1/webgpu']);
      expect(inv.weights.map((w) => w.path)).toEqual([BASE]);
      expect(existsSync(join(r.dir, CTX768))).toBe(false);
      // The base folder's file came from out/, with the recorded bytes.
      expect(await readFile(join(r.dir, BASE, 'tokenizer_config.json'))).toEqual(await readFile(baseCopy));
      expect(sha256(await readFile(join(r.dir, BASE, 'tokenizer_config.json')))).toBe(sha256(original));
    } finally {
      await rename(kept, blob);
      await rm(outCopy, { force: true });
      await writeFile(outCopy, original);
    }
  });
});

describe('writing the folder', () => {
  it('replaces an earlier release whole, leaving nothing beside it; keeps it when the new one cannot be written', async () => {
    const dir = join(await tempDir('mlc-build-release-'), 'release');
    await release({}, { dir });
    const onlyWeb = new Map(built);
    for (const cell of ['iphone', 'android']) onlyWeb.delete(`compile:qwen/q4f16_1/${cell}`);
    await release({}, { results: onlyWeb, dir });
    expect(await filesUnder(dir)).not.toContain('libs/qwen-q4f16_1-iphone.tar');
    expect(existsSync(join(dir, CTX768))).toBe(false);
    expect(await readdir(dirname(dir))).toEqual(['release']); // no staging or old folder left
    const before = await readFile(join(dir, 'release.json'), 'utf8');
    // A file whose bytes vanished before the write: the write fails, and the earlier release stays.
    const failed = await writeRelease(dir, { placed: [{ path: 'libs/x.so', from: join(dir, 'no-such-file'), digest: '0'.repeat(64), size: 1 }], written: [] });
    expect(failed.ok ? '' : failed.error).toContain(`could not write ${dir}: `);
    expect(await readFile(join(dir, 'release.json'), 'utf8')).toBe(before);
    expect(await readdir(dirname(dir))).toEqual(['release']);
    // A write that fails before anything was staged is reported the same way.
    const nothing = await writeRelease(join(dirname(dir), 'nothing'), { placed: [], written: [] });
    expect(nothing.ok ? '' : nothing.error).toContain('could not write');
  });

  it('refuses a folder that is not a release, and a file; takes an empty folder', async () => {
    const parent = await tempDir('mlc-build-release-');
    await mkdir(join(parent, 'notes'));
    await writeFile(join(parent, 'notes', 'todo.txt'), 'mine');
    expect(replaceProblem(join(parent, 'notes'))).toBe(
      `${join(parent, 'notes')} exists and is not a release (no release.json in it): remove it or choose another --out`,
    );
    const refused = await writeRelease(join(parent, 'notes'), { placed: [], written: [{ path: 'release.json', data: '{}' }] });
    expect(refused.ok).toBe(false);
    expect(await readdir(join(parent, 'notes'))).toEqual(['todo.txt']);
    await writeFile(join(parent, 'file'), 'x');
    expect(replaceProblem(join(parent, 'file'))).toBe(`${join(parent, 'file')} is not a folder`);
    await mkdir(join(parent, 'empty'));
    expect(replaceProblem(join(parent, 'empty'))).toBeUndefined();
    expect(await writeRelease(join(parent, 'empty'), { placed: [], written: [{ path: 'a/release.json', data: '{}' }] })).toEqual({
      ok: true,
      value: undefined,
    });
    expect(await readFile(join(parent, 'empty', 'a', 'release.json'), 'utf8')).toBe('{}');
    expect(replaceProblem(join(parent, 'not-yet'))).toBeUndefined();
  });

  it("lays the libraries out as publish asks, and lists the published commits; every file's list follows", async () => {
    const published = { endpoint: 'https://huggingface.co', repos: { 'org/libs': 'a'.repeat(40) } };
    // Here the iphone library comes before the android one: the configs are listed by platform all the same.
    const folderOf = (target: string) => (target === 'android' ? 'phones-b' : target === 'iphone' ? 'phones-a' : target);
    const r = await release({ libraryPath: (l) => `${folderOf(l.target.name)}/${l.file.path.split('/').pop() ?? ''}`, published });
    const inv = await json<Inventory>(join(r.dir, 'release.json'));
    expect(inv.libraries.map((l) => l.path)).toEqual([
      'phones-a/qwen-q4f16_1-iphone.tar',
      'phones-b/qwen-q4f16_1-android.tar',
      'webgpu/qwen-q4f16_1-webgpu.wasm',
    ]);
    expect(inv.configs.map((c) => c.path)).toEqual([
      'web-llm/app-config.json',
      'mlc-package/android/mlc-package-config.json',
      'mlc-package/iphone/mlc-package-config.json',
    ]);
    for (const l of inv.libraries) expect(sha256(await readFile(join(r.dir, l.path)))).toBe(l.sha256);
    expect(inv.published).toEqual(published);
    expect(await readFile(join(r.dir, 'SHA256SUMS'), 'utf8')).toContain('  webgpu/qwen-q4f16_1-webgpu.wasm\n');
    const cfg = await json<PackageConfig>(join(r.dir, 'mlc-package/iphone/mlc-package-config.json'));
    expect(cfg.model_lib_path_for_prepare_libs).toEqual({ qwen2_q4f16_1: '../../phones-a/qwen-q4f16_1-iphone.tar' });
  });
});

describe('what the build left, however the release finds it', () => {
  it('steps a no-op build finds fresh, or restores from the store, release the same folder as steps that ran', async () => {
    const expected = await readFile(join((await release()).dir, 'release.json'), 'utf8');
    const statuses = (results: Map<string, NodeResult>) =>
      Object.fromEntries([...results.values()].filter((r) => r.kind !== 'download').map((r) => [r.node, r.status]));
    // The webgpu library removed from out/: restored from the store; everything else is in place.
    await rm(join(project.manifest.out, 'libs/qwen-q4f16_1-webgpu.wasm'));
    const again = await build();
    expect(statuses(again)).toEqual({
      'convert:qwen/q4f16_1': 'fresh',
      'config:qwen/q4f16_1/base': 'fresh',
      'config:qwen/q4f16_1/ctx768': 'fresh',
      'compile:qwen/q4f16_1/iphone': 'fresh',
      'compile:qwen/q4f16_1/android': 'fresh',
      'compile:qwen/q4f16_1/webgpu': 'cached',
    });
    expect(await readFile(join((await release({}, { results: again })).dir, 'release.json'), 'utf8')).toBe(expected);
  });

  it('a result gc dropped from the store is released from its files in out/ while they still match', async () => {
    const key = built.get('compile:qwen/q4f16_1/webgpu')?.key ?? '';
    // Where the store keeps a result (gc removes this file).
    const record = join(project.manifest.cache, 'ac', key.slice(0, 2), `${key}.json`);
    await rename(record, `${record}.dropped`);
    try {
      const r = await release();
      expect(r.collected.missing).toEqual([]);
      const lib = (await json<Inventory>(join(r.dir, 'release.json'))).libraries.find((l) => l.cell === 'qwen/q4f16_1/webgpu');
      expect(lib?.sha256).toBe(sha256(await readFile(join(project.manifest.out, 'libs/qwen-q4f16_1-webgpu.wasm'))));
    } finally {
      await rename(`${record}.dropped`, record);
    }
  });

  it('release --verify: a library changed in the store or in out/ (its size and time kept) is not released', async () => {
    const lib = join(project.manifest.out, 'libs/qwen-q4f16_1-webgpu.wasm');
    const original = await readFile(lib);
    const store = await Store.open(project.manifest.cache, { readOnly: true });
    const blob = store.blobPath(sha256(original));
    await store.close();
    /** Changes a byte in place, keeping the size and the time to the nanosecond: only hashing it again tells. */
    const change = async (file: string) => {
      const before = await stat(file, { bigint: true });
      await chmod(file, 0o644);
      const fh = await open(file, 'r+');
      await fh.write(Buffer.from([(original[0] ?? 0) ^ 0xff]), 0, 1, 0);
      await fh.close();
      const ns = before.mtimeNs;
      execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, file]);
      expect((await stat(file, { bigint: true })).mtimeNs).toBe(ns);
    };
    /** Puts the bytes back with a new time, so that what was hashed from the changed file is not trusted later. */
    const restore = async (file: string) => {
      await chmod(file, 0o644);
      await writeFile(file, original);
      const later = new Date(Date.now() + 60_000);
      await utimes(file, later, later);
      await chmod(file, 0o444); // as the store keeps its blobs
    };
    const reason = /qwen-q4f16_1-webgpu\.wasm does not match its recorded digest [0-9a-f]{12} and the store lacks it/;
    try {
      // In the store (out/ holds a link to the same bytes, or a copy).
      await change(blob);
      const inStore = await release({}, { verify: true });
      expect(inStore.collected.missing.map((m) => m.cell)).toEqual(['qwen/q4f16_1/webgpu']);
      expect(inStore.collected.missing[0]?.reason).toMatch(reason);
      await restore(blob);
      // In out/, with the store's blob gone.
      await rename(blob, `${blob}.kept`);
      await change(lib);
      const inOut = await release({}, { verify: true });
      expect(inOut.collected.missing.map((m) => m.cell)).toEqual(['qwen/q4f16_1/webgpu']);
      expect(inOut.collected.missing[0]?.reason).toMatch(reason);
    } finally {
      if (existsSync(`${blob}.kept`)) await rename(`${blob}.kept`, blob);
      await restore(blob);
      await restore(lib);
    }
  });

  it('a result recorded without the file a release needs leaves its cell missing, naming the file', async () => {
    const store = await Store.open(project.manifest.cache);
    try {
      const compile = await store.getRecord(built.get('compile:qwen/q4f16_1/webgpu')?.key ?? '');
      const config = await store.getRecord(built.get('config:qwen/q4f16_1/base')?.key ?? '');
      if (!compile || !config) throw new Error('the build recorded no result');
      await store.putRecord({ ...compile, key: '1'.repeat(64), outputs: {} }, {});
      const withoutChat = Object.fromEntries(Object.entries(config.outputs).filter(([name]) => name !== 'mlc-chat-config.json'));
      await store.putRecord({ ...config, key: '2'.repeat(64), outputs: withoutChat }, {});
    } finally {
      await store.close();
    }
    const noLibrary = await release({}, { results: withResult('compile:qwen/q4f16_1/webgpu', { key: '1'.repeat(64) }) });
    expect(noLibrary.collected.missing).toEqual([{ cell: 'qwen/q4f16_1/webgpu', reason: 'no recorded output qwen-q4f16_1-webgpu.wasm' }]);
    const noChat = await release({}, { results: withResult('config:qwen/q4f16_1/base', { key: '2'.repeat(64) }) });
    expect(noChat.collected.missing).toEqual([{ cell: 'qwen/q4f16_1/webgpu', reason: 'config:qwen/q4f16_1/base recorded no mlc-chat-config.json' }]);
  });
});

const MB = 2 ** 20;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** What the build left, as the release's modules take it: the libraries and weights folders, and a context. */
async function collected(
  use: (found: { ctx: BuildContext; lib: (target: string) => LibraryEntry; folder: (name: string) => WeightsEntry }) => void | Promise<void>,
): Promise<void> {
  const ctx = await openContext(project, { readOnly: true });
  try {
    const { libraries, weights } = await collect(ctx, project.manifest.cells, built);
    await use({
      ctx,
      lib: (target) => libraries.find((l) => l.target.name === target) as LibraryEntry,
      folder: (name) => weights.find((w) => w.folder === name) as WeightsEntry,
    });
  } finally {
    await ctx.store.close();
  }
}

describe("a library's figures", () => {
  it('estimates what the compile log did not print from the converted weights and the model config, and says so', async () => {
    await collected(async ({ ctx, lib, folder }) => {
      const silent = { ...lib('iphone'), facts: undefined }; // a compile log without memory lines
      const f = libraryFigures(silent, folder(CTX768), ctx, 3072);
      const chat = await json<{ prefill_chunk_size: number; model_config: Record<string, number> }>(join(project.manifest.out, CTX768, 'mlc-chat-config.json'));
      const m = chat.model_config;
      const { metadata } = await json<{ metadata: { ParamBytes: number } }>(join(project.manifest.out, CTX768, 'tensor-cache.json'));
      const params = metadata.ParamBytes / MB;
      const temp = (chat.prefill_chunk_size * ((m.hidden_size ?? 0) * 4 + (m.vocab_size ?? 0)) * 4) / MB;
      const kv = (2 * (m.num_hidden_layers ?? 0) * (m.num_key_value_heads ?? 0) * ((m.hidden_size ?? 0) / (m.num_attention_heads ?? 1)) * 2) / MB;
      expect(kv).toBeGreaterThan(0);
      expect(f.memory).toEqual({
        params_mb: round2(params),
        temp_buffer_mb: round2(temp),
        kv_cache_mb_per_token: kv,
        kv_tokens: 768,
        vram_required_mb: round2(params + temp + kv * 768),
        estimated: ['params', 'temp_buffer', 'kv_cache'],
      });
    });
  });

  it("counts the parameters from tensor-cache.json's ParamBytes, else the shards' size; the largest buffer from its records", async () => {
    await collected(async ({ ctx, lib, folder }) => {
      const silent = { ...lib('iphone'), facts: undefined };
      const base = folder(CTX768);
      const dir = await tempDir('mlc-build-figures-');
      const file = (name: string, size: number, from = join(dir, name)) => ({ path: `${CTX768}/${name}`, digest: '', size, from });
      const shards = [file('params_shard_0.bin', 100 * MB), file('params_shard_12.bin', 200 * MB), file('tokenizer.json', 7 * MB)];
      const records = [{ records: [{ nbytes: 10 }, { nbytes: 30 }] }, { records: [{ nbytes: 20 }] }];
      const figuresWith = async (cache: object | undefined) => {
        if (cache) await writeFile(join(dir, 'tensor-cache.json'), JSON.stringify(cache));
        const files = [...shards, ...(cache ? [file('tensor-cache.json', 1)] : [])];
        const f = libraryFigures(silent, { ...base, files }, ctx, 3072);
        return [f.memory.params_mb, f.largestBufferBytes];
      };
      expect(await figuresWith({ metadata: { ParamBytes: 250 * MB }, records })).toEqual([250, 30]);
      expect(await figuresWith({ records })).toEqual([300, 30]); // shards 0 and 12, not the tokenizer
      expect(await figuresWith(undefined)).toEqual([300, 0]);
    });
  });

  it('needs shader-f16 only for float16 quantizations; phones and Mac Catalyst carry the prefix mlc_llm gives (model type and quantization, "-" made "_")', async () => {
    await collected(({ ctx, lib, folder }) => {
      const webgpu = lib('webgpu');
      expect(libraryFigures(webgpu, folder(BASE), ctx, 3072)).toMatchObject({ requiredFeatures: ['shader-f16'] });
      const f32 = libraryFigures({ ...webgpu, cell: { ...webgpu.cell, quant: 'q4f32_1' } }, folder(BASE), ctx, 3072);
      expect(f32.requiredFeatures).toEqual([]);
      expect([f32.packageDevice, f32.systemLibPrefix]).toEqual([undefined, undefined]);
      const iphone = lib('iphone');
      const macabi = libraryFigures({ ...iphone, target: { ...iphone.target, device: 'macabi' } }, folder(CTX768), ctx, 3072);
      expect([macabi.packageDevice, macabi.systemLibPrefix]).toEqual(['macabi', 'qwen2_q4f16_1_']);
      // A config that names its model type only inside model_config, with a "-" in it.
      const w = folder(CTX768);
      const chat = Object.fromEntries(Object.entries(w.chat).filter(([k]) => k !== 'model_type'));
      const nested = { ...w, chat: { ...chat, model_config: { ...(w.chat.model_config as object), model_type: 'gpt-bigcode' } } };
      expect(libraryFigures(iphone, nested, ctx, 3072).systemLibPrefix).toBe('gpt_bigcode_q4f16_1_');
    });
  });
});

describe("web-llm's app config and the package configs, at their edges", () => {
  it('two webgpu libraries of one weights folder get ids of their own, sorted; any webgpu device counts', async () => {
    await collected(({ ctx, lib, folder }) => {
      const webgpu = lib('webgpu');
      const w = folder(BASE);
      const generic = {
        ...webgpu,
        target: { ...webgpu.target, name: 'webgpu-b', stem: 'webgpu-b', device: 'webgpu:generic' },
        file: { ...webgpu.file, path: 'libs/qwen-q4f16_1-webgpu-b.wasm' },
      };
      const f = libraryFigures(webgpu, w, ctx, 3072);
      const app = webLlmAppConfig(
        [generic, webgpu, lib('iphone')],
        new Map([[w.folder, w]]),
        new Map([
          [webgpu, f],
          [generic, f],
        ]),
        {},
      );
      expect(app.model_list.map((m) => [m.model_id, m.model_lib])).toEqual([
        [`${BASE}-webgpu`, 'libs/qwen-q4f16_1-webgpu.wasm'],
        [`${BASE}-webgpu-b`, 'libs/qwen-q4f16_1-webgpu-b.wasm'],
      ]);
    });
  });

  it('leaves out what a library lacks: overrides not positive, no required features, no tokenizer files; hashes only the tokenizer files there, sorted', async () => {
    await collected(({ ctx, lib, folder }) => {
      const webgpu = lib('webgpu');
      const w = folder(BASE);
      const f = libraryFigures(webgpu, w, ctx, 3072);
      const bare = { ...f, window: { context_window_size: -1, sliding_window_size: 0, attention_sink_size: 0 }, requiredFeatures: [] };
      const noTokenizer = { ...w, chat: { ...w.chat, tokenizer_files: [] } };
      const [plain] = webLlmAppConfig([webgpu], new Map([[w.folder, noTokenizer]]), new Map([[webgpu, bare]]), {}).model_list;
      expect(Object.keys(plain ?? {})).toEqual([
        'model',
        'model_id',
        'model_lib',
        'vram_required_MB',
        'low_resource_required',
        'buffer_size_required_bytes',
        'integrity',
      ]);
      expect(Object.keys(plain?.integrity ?? {})).toEqual(['config', 'model_lib']);
      const listed = { ...w, chat: { ...w.chat, tokenizer_files: ['vocab.json', 'tokenizer_config.json', 'tokenizer.json'] } };
      const [hashed] = webLlmAppConfig([webgpu], new Map([[w.folder, listed]]), new Map([[webgpu, f]]), {}).model_list;
      expect(Object.keys(hashed?.integrity.tokenizer ?? {})).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    });
  });

  it('package configs list models by id and libraries by prefix; a two-character prefix is one; overrides only of positive values', async () => {
    await collected(({ ctx, lib, folder }) => {
      const qwen = lib('iphone');
      const w = folder(CTX768);
      const llamaFolder = 'llama-q4f16_1-ctx768-MLC';
      const llama = {
        ...qwen,
        cell: { ...qwen.cell, id: 'llama/q4f16_1/iphone', model: 'llama' },
        weights: llamaFolder,
        file: { ...qwen.file, path: 'libs/llama-q4f16_1-iphone.tar', digest: 'e'.repeat(64) },
      };
      const f = libraryFigures(qwen, w, ctx, 3072);
      const figures = new Map([
        [qwen, { ...f, systemLibPrefix: 'q_' }],
        [llama, { ...f, systemLibPrefix: 'a_', window: { context_window_size: 0, sliding_window_size: -1 } }],
      ]);
      const weights = new Map([
        [w.folder, w],
        [llamaFolder, { ...w, folder: llamaFolder }],
      ]);
      const configs = packageConfigs([qwen, llama], weights, figures, undefined);
      if (!configs.ok) throw new Error(configs.error.join('\n'));
      expect(configs.value.map((c) => [c.device, c.model_list.map((m) => [m.model_id, m.model_lib, m.overrides]), c.model_lib_path_for_prepare_libs])).toEqual([
        [
          'iphone',
          [
            [llamaFolder, 'a', undefined],
            [CTX768, 'q', { context_window_size: 768, prefill_chunk_size: 768 }],
          ],
          { a: '../../libs/llama-q4f16_1-iphone.tar', q: '../../libs/qwen-q4f16_1-iphone.tar' },
        ],
      ]);
      expect(Object.keys(configs.value[0]?.model_lib_path_for_prepare_libs ?? {})).toEqual(['a', 'q']);
      expect(configs.value[0]?.model_list.map((m) => Object.keys(m).includes('overrides'))).toEqual([false, true]);
    });
  });

  it('a model card names the hub model its weights come from; a folder no library of the release runs says so', async () => {
    await collected(({ lib, folder }) => {
      const hub = parseSource('hf://Qwen/Qwen2-0.5B@main', disk.dir);
      if (typeof hub === 'string') throw new Error(hub);
      const card = modelCard(folder(CTX768), hub, 'hf://Qwen/Qwen2-0.5B@main', 'c'.repeat(40), TOOLCHAIN, [], new Map());
      expect(card).toMatch(/^---\nlibrary_name: mlc-llm\nbase_model: Qwen\/Qwen2-0\.5B\ntags:\n/);
      expect(card).toContain('[Qwen/Qwen2-0.5B](https://huggingface.co/Qwen/Qwen2-0.5B) converted to MLC format');
      expect(card).toContain(`| Source | \`hf://Qwen/Qwen2-0.5B@main\` at \`${'c'.repeat(40)}\` |`);
      expect(card).toContain('## Libraries built for these weights\n\nNone in this release.\n');
      // Without figures for a library, no memory is claimed for it.
      expect(modelCard(folder(CTX768), hub, 'hf://Qwen/Qwen2-0.5B', undefined, TOOLCHAIN, [lib('iphone')], new Map())).toContain(
        '- `libs/qwen-q4f16_1-iphone.tar` (iphone, device `iphone`)\n',
      );
    });
  });
});
