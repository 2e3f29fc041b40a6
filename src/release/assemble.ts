// src/release/ owns `release`'s folder: what the build left (collect.ts), per-library figures,
// web-llm's and mlc_llm package's configs, model cards, release.json and SHA256SUMS, written whole.
//
// From what the build left (collect.ts) to the release's files: the libraries and weights
// folders, a model card per folder, web-llm's app config, a package config per phone platform,
// release.json and SHA256SUMS over every file.
import { createHash } from 'node:crypto';
import type { BuildContext } from '../exec/context.js';
import type { Lock } from '../lockfile/lock-file.js';
import { err, ok, type Result } from '../result.js';
import { byText, type Collected, type LibraryEntry, type ReleaseFile } from './collect.js';
import { libraryFigures, type LibraryFigures } from './figures.js';
import {
  libraryFacts,
  sha256sums,
  sourceDate,
  weightsFacts,
  type PublishedFacts,
  type ReleaseInventory,
  type SourceFacts,
  type ToolchainFacts,
} from './inventory.js';
import { modelCard } from './model-card.js';
import { packageConfigs, packageFolder } from './package-config.js';
import { webLlmAppConfig, type Urls } from './web-llm.js';
import { INVENTORY, type ReleaseContents } from './write.js';
import { must } from '../must.js';

export const SUMS = 'SHA256SUMS';
export const APP_CONFIG = 'web-llm/app-config.json';
export const PACKAGE_CONFIG = 'mlc-package-config.json';

export interface ReleaseSettings extends Urls {
  lowResourceMB: number;
  generator: string;
  manifestFile: string;
  manifestDigest: string;
  toolchain: ToolchainFacts;
  lock: Lock;
  env: NodeJS.ProcessEnv;
  /** Where each library goes in the release (default libs/<file>); publish lays out its libs repository so. */
  libraryPath?: (lib: LibraryEntry) => string;
  /** The commits a published release's URLs are pinned to (release.json lists them). */
  published?: PublishedFacts;
}

export interface Assembled {
  contents: ReleaseContents;
  libraries: number;
  weights: number;
  files: number;
  bytes: number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

export function assemble(ctx: BuildContext, collected: Collected, s: ReleaseSettings): Result<Assembled, string[]> {
  const weights = new Map(collected.weights.map((w) => [w.folder, w]));
  const pathOf = s.libraryPath;
  const laidOut = pathOf ? collected.libraries.map((l) => ({ ...l, file: { ...l.file, path: pathOf(l) } })) : collected.libraries;
  const libs = [...laidOut].sort((a, b) => byText(a.file.path, b.file.path));
  const figures = new Map<LibraryEntry, LibraryFigures>();
  for (const lib of libs) {
    const w = weights.get(lib.weights);
    if (w) figures.set(lib, libraryFigures(lib, w, ctx, s.lowResourceMB));
  }
  const packages = packageConfigs(libs, weights, figures, s.baseUrl, s.weightsRepo);
  if (!packages.ok) return err(packages.error);

  const placed: ReleaseFile[] = [...libs.map((l) => l.file), ...collected.weights.flatMap((w) => w.files)];
  const written: { path: string; data: string }[] = [];
  const cards = new Map<string, ReleaseFile>();
  const shownSource = (id: string): string => {
    const m = ctx.model(id);
    return m.source.kind === 'local' ? ctx.display(m.source.path) : m.source.text;
  };
  for (const w of collected.weights) {
    const model = ctx.model(w.model);
    const data = modelCard(
      w,
      model.source,
      shownSource(w.model),
      s.lock.sources[model.source.text]?.commit,
      s.toolchain,
      libs.filter((l) => l.weights === w.folder),
      figures,
    );
    const path = `${w.folder}/README.md`;
    written.push({ path, data });
    // Stryker disable next-line StringLiteral: a card is written from its text; its `from` is never read
    cards.set(w.folder, { path, digest: sha256(data), size: Buffer.byteLength(data), from: '' });
  }
  const configs: { path: string; data: string }[] = [];
  const app = webLlmAppConfig(libs, weights, figures, s);
  if (app.model_list.length > 0) configs.push({ path: APP_CONFIG, data: json(app) });
  for (const p of packages.value) configs.push({ path: `${packageFolder(p.device)}/${PACKAGE_CONFIG}`, data: json(p) });
  written.push(...configs);

  const usedModels = [...new Set(collected.weights.map((w) => w.model))].sort(byText);
  const sources: SourceFacts[] = usedModels.map((id) => {
    const m = ctx.model(id);
    const pin = s.lock.sources[m.source.text];
    return {
      model: id,
      source: shownSource(id),
      ...(pin?.revision !== undefined ? { revision: pin.revision } : {}),
      ...(pin?.commit !== undefined ? { commit: pin.commit } : {}),
    };
  });
  const date = sourceDate(s.env);
  const inventory: ReleaseInventory = {
    generator: s.generator,
    ...(date ? { date } : {}),
    manifest: { file: s.manifestFile, sha256: s.manifestDigest },
    toolchain: s.toolchain,
    sources,
    // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
    libraries: libs.map((l) => libraryFacts(l, must(figures, l, 'figures of the library'))),
    weights: collected.weights.map((w) => weightsFacts(w, cards.get(w.folder))),
    configs: configs.map((c) => ({ path: c.path, sha256: sha256(c.data) })),
    missing: [...collected.missing].sort((a, b) => byText(a.cell, b.cell)),
    ...(s.published ? { published: s.published } : {}),
  };
  const inventoryText = json(inventory);
  written.push({ path: INVENTORY, data: inventoryText });
  const all = [...placed.map((f) => ({ path: f.path, digest: f.digest })), ...written.map((w) => ({ path: w.path, digest: sha256(w.data) }))];
  written.push({ path: SUMS, data: sha256sums(all) });
  return ok({
    contents: { placed: placed.map((f) => ({ path: f.path, from: f.from, digest: f.digest, size: f.size })), written },
    libraries: libs.length,
    weights: collected.weights.length,
    files: all.length + 1,
    bytes: placed.reduce((a, f) => a + f.size, 0) + written.reduce((a, w) => a + Buffer.byteLength(w.data), 0),
  });
}
