// web-llm/app-config.json: an AppConfig (`@mlc-ai/web-llm`) listing every webgpu library with the
// weights folder it runs, the figures web-llm checks before loading, and SRI hashes of its files.
import { basename } from 'node:path';
import { byText, type LibraryEntry, type WeightsEntry } from './collect.js';
import type { LibraryFigures } from './figures.js';
import { must } from '../must.js';

/** The fields of web-llm's ModelRecord that a release fills (the test type-checks them against web-llm's own). */
export interface WebLlmModelRecord {
  model: string;
  model_id: string;
  model_lib: string;
  overrides?: { context_window_size?: number; sliding_window_size?: number; attention_sink_size?: number };
  vram_required_MB: number;
  low_resource_required: boolean;
  buffer_size_required_bytes: number;
  required_features?: string[];
  integrity: { config: string; model_lib: string; tokenizer?: Record<string, string> };
}

export interface WebLlmAppConfig {
  model_list: WebLlmModelRecord[];
}

export interface Urls {
  /** Where the weights folders are published (https://huggingface.co/ORG), else paths relative to the release. */
  baseUrl?: string;
  /** Where the libraries are published, else `libs/…` relative to the release. */
  libUrl?: string;
  /** Each weights folder's own URL (publish pins each to a commit of its repository); over baseUrl. */
  weightsUrl?: (folder: string) => string;
  /** Each weights folder's hub repository "ORG/NAME" (mlc_llm package reads HF://ORG/NAME, no revision); over baseUrl. */
  weightsRepo?: (folder: string) => string;
  /** Each library's own URL (publish pins them to a commit of the libs repository); over libUrl. */
  libraryUrl?: (lib: LibraryEntry) => string;
}

export const sri = (hexDigest: string): string => `sha256-${Buffer.from(hexDigest, 'hex').toString('base64')}`;

export const isWebGpu = (lib: LibraryEntry): boolean => lib.target.device.startsWith('webgpu');

/**
 * `model_id` for each library of one platform: its weights folder's name, with "-<stem>" added
 * when two of the platform's libraries share a folder.
 */
export function modelIds(libs: readonly LibraryEntry[]): Map<LibraryEntry, string> {
  const perFolder = new Map<string, number>();
  for (const l of libs) perFolder.set(l.weights, (perFolder.get(l.weights) ?? 0) + 1);
  return new Map(libs.map((l) => [l, (perFolder.get(l.weights) ?? 0) > 1 ? `${l.weights}-${l.target.stem}` : l.weights]));
}

export function webLlmAppConfig(
  libs: readonly LibraryEntry[],
  weights: ReadonlyMap<string, WeightsEntry>,
  figures: ReadonlyMap<LibraryEntry, LibraryFigures>,
  urls: Urls,
): WebLlmAppConfig {
  const web = libs.filter(isWebGpu);
  const ids = modelIds(web);
  const join = (base: string | undefined, rel: string, fallback: string) => (base === undefined ? fallback : `${base.replace(/\/+$/, '')}/${rel}`);
  const list = web.map((lib): WebLlmModelRecord => {
    // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
    const w = must(weights, lib.weights, 'weights folder');
    // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
    const f = must(figures, lib, 'figures of the library');
    const libName = basename(lib.file.path);
    const overrides: NonNullable<WebLlmModelRecord['overrides']> = {};
    for (const k of ['context_window_size', 'sliding_window_size', 'attention_sink_size'] as const) {
      const v = f.window[k];
      if (v !== undefined && v > 0) overrides[k] = v;
    }
    const byName = new Map(w.files.map((file) => [file.path.slice(w.folder.length + 1), file]));
    // Stryker disable next-line MethodExpression,ConditionalExpression,ArrayDeclaration: only the names of files in the folder pass the filter below
    const tokenizerFiles = Array.isArray(w.chat.tokenizer_files) ? w.chat.tokenizer_files.filter((t): t is string => typeof t === 'string') : [];
    // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
    const digestOf = (t: string): string => must(byName, t, 'tokenizer file of the weights folder').digest;
    const tokenizer = Object.fromEntries(
      tokenizerFiles
        .filter((t) => byName.has(t))
        .sort(byText)
        .map((t) => [t, sri(digestOf(t))]),
    );
    const config = byName.get('mlc-chat-config.json');
    return {
      model: urls.weightsUrl?.(w.folder) ?? join(urls.baseUrl, w.folder, w.folder),
      // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
      model_id: must(ids, lib, 'model id of the library'),
      model_lib: urls.libraryUrl?.(lib) ?? join(urls.libUrl, libName, lib.file.path),
      ...(Object.keys(overrides).length > 0 ? { overrides } : {}),
      vram_required_MB: f.memory.vram_required_mb,
      low_resource_required: f.lowResource,
      buffer_size_required_bytes: f.largestBufferBytes,
      ...(f.requiredFeatures.length > 0 ? { required_features: f.requiredFeatures } : {}),
      integrity: {
        // Stryker disable next-line StringLiteral: a weights folder always holds its mlc-chat-config.json (collect.ts)
        config: sri(config?.digest ?? ''),
        model_lib: sri(lib.file.digest),
        ...(Object.keys(tokenizer).length > 0 ? { tokenizer } : {}),
      },
    };
  });
  return { model_list: list.sort((a, b) => byText(a.model_id, b.model_id)) };
}
