// mlc-package-config.json per phone platform: what `mlc_llm package` reads to bundle the app's
// models, pointing at our prebuilt .tar libraries (model_lib_path_for_prepare_libs) so it links
// them instead of compiling again. `model_lib` is the library's system-lib prefix without its
// trailing "_": package finds each library by `<model_lib>___tvm_ffi__library_bin`.
import { err, ok, type Result } from '../result.js';
import { byText, type LibraryEntry, type WeightsEntry } from './collect.js';
import type { LibraryFigures } from './figures.js';
import { bytesOfMB } from './memory.js';
import { modelIds } from './web-llm.js';
import { must } from '../must.js';

export interface PackageModel {
  model: string;
  model_id: string;
  model_lib: string;
  estimated_vram_bytes: number;
  overrides?: Record<string, number>;
  bundle_weight?: boolean;
}

export interface PackageConfig {
  device: 'iphone' | 'macabi' | 'android';
  model_list: PackageModel[];
  model_lib_path_for_prepare_libs: Record<string, string>;
}

/** The folder of a platform's config inside the release, and how it reaches the release's root. */
export const packageFolder = (device: string): string => `mlc-package/${device}`;
const UP = '../../';

/**
 * `model`: `HF://ORG/<folder>` when the weights are published on the hub (`--base-url
 * https://huggingface.co/ORG` or `HF://ORG`; publish names each folder's repository), else the
 * folder in the release, bundled into the app.
 */
export function packageConfigs(
  libs: readonly LibraryEntry[],
  weights: ReadonlyMap<string, WeightsEntry>,
  figures: ReadonlyMap<LibraryEntry, LibraryFigures>,
  baseUrl: string | undefined,
  weightsRepo?: (folder: string) => string,
): Result<PackageConfig[], string[]> {
  const org = hubOrg(baseUrl);
  const hub = weightsRepo ?? (org === undefined ? undefined : (folder: string) => `${org}/${folder}`);
  const byDevice = new Map<PackageConfig['device'], LibraryEntry[]>();
  for (const lib of libs) {
    const device = figures.get(lib)?.packageDevice;
    // Only system libraries (.tar) link into an app; android:adreno-so builds a shared library.
    if (device && lib.target.ext === 'tar') byDevice.set(device, [...(byDevice.get(device) ?? []), lib]);
  }
  const problems: string[] = [];
  const configs: PackageConfig[] = [];
  for (const [device, list] of [...byDevice].sort(([a], [b]) => byText(a, b))) {
    const ids = modelIds(list);
    const libPaths: Record<string, string> = {};
    const owner = new Map<string, LibraryEntry>();
    const models: PackageModel[] = [];
    for (const lib of list) {
      // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
      const f = must(figures, lib, 'figures of the library');
      // Stryker disable next-line StringLiteral: a phone library always has a prefix (figures.ts)
      const prefix = f.systemLibPrefix ?? '';
      if (!prefix.endsWith('_') || prefix.length < 2) {
        problems.push(
          `${lib.cell.id}: system-lib prefix ${JSON.stringify(prefix)} does not end in "_", so mlc_llm package cannot find its library; end target ${lib.target.name}'s system_lib_prefix with "_"`,
        );
        continue;
      }
      const modelLib = prefix.slice(0, -1);
      const other = owner.get(modelLib);
      if (other && other.file.digest !== lib.file.digest) {
        problems.push(
          `${device}: ${other.cell.id} and ${lib.cell.id} are different libraries with the same system-lib prefix ${JSON.stringify(prefix)}; linked into one app they collide. Give target ${lib.target.name} a system_lib_prefix with placeholders, e.g. "{model}_{quant}_"`,
        );
        continue;
      }
      owner.set(modelLib, lib);
      libPaths[modelLib] = `${UP}${lib.file.path}`;
      // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
      const w = must(weights, lib.weights, 'weights folder');
      const overrides: Record<string, number> = {};
      for (const [k, v] of Object.entries(f.window) as [string, number | undefined][]) if (v !== undefined && v > 0) overrides[k] = v;
      models.push({
        model: hub ? `HF://${hub(w.folder)}` : `${UP}${w.folder}`,
        // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
        model_id: must(ids, lib, 'model id of the library'),
        model_lib: modelLib,
        estimated_vram_bytes: bytesOfMB(f.memory.vram_required_mb),
        ...(Object.keys(overrides).length > 0 ? { overrides } : {}),
        ...(hub ? {} : { bundle_weight: true }),
      });
    }
    configs.push({
      device,
      model_list: models.sort((a, b) => byText(a.model_id, b.model_id)),
      model_lib_path_for_prepare_libs: Object.fromEntries(Object.entries(libPaths).sort(([a], [b]) => byText(a, b))),
    });
  }
  return problems.length > 0 ? err(problems) : ok(configs);
}

/** "ORG" of https://huggingface.co/ORG or HF://ORG; undefined for any other base. */
export function hubOrg(baseUrl: string | undefined): string | undefined {
  if (baseUrl === undefined) return undefined;
  const m = /^(?:https?:\/\/(?:www\.)?huggingface\.co\/|hf:\/\/)([A-Za-z0-9][\w.-]*)\/?$/i.exec(baseUrl.trim());
  return m ? m[1] : undefined;
}
