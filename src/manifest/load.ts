// src/manifest/ owns mlc.build.yaml: finding it, parsing with positions, validating with located
// diagnostics, the matrix and the layered settings → a typed Manifest and its cells.
//
// Find and load the manifest: discovery → YAML with positions → shape → semantics → matrix → layers.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { err, ok, type Result } from '../result.js';
import { error, type Diagnostic } from './diagnostic.js';
import { layer } from './layers.js';
import { cellKey, expandMatrix } from './matrix.js';
import { checkShape } from './shape.js';
import { ManifestSource } from './source.js';
import { resourcesOf } from './resources.js';
import { resolveTargets } from './targets.js';
import type { Cell, Manifest, PublishHubSettings, ToolchainInstall } from './types.js';
import { parseAge } from './units.js';
import type { RawManifest } from './schema.js';
import { checkCacheLimits, checkMatrixRules, checkModels, checkNaming, checkQuantizations } from './validate.js';

export const SEARCH_PLACES = ['mlc.build.yaml', 'mlc.build.yml', '.mlcbuildrc', '.mlcbuildrc.yaml', '.mlcbuildrc.yml', '.mlcbuildrc.json', 'package.json'];

export interface Loaded {
  manifest: Manifest;
  warnings: Diagnostic[];
}

/** Finds the manifest (cosmiconfig search from `cwd` up to the project's package.json) or reads `configFile`. */
export async function findManifest(cwd: string, configFile?: string): Promise<Result<string, Diagnostic[]>> {
  if (configFile !== undefined) return ok(resolve(cwd, configFile));
  // The common case without loading cosmiconfig: the first search place, in the current folder.
  const here = join(cwd, SEARCH_PLACES[0] as string);
  if (
    await stat(here).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    return ok(here);
  const { cosmiconfig } = await import('cosmiconfig');
  // Loaders only say "found": the file is parsed by `yaml` (with positions) in loadManifestFile.
  const found = () => ({ found: true });
  const explorer = cosmiconfig('mlcbuild', {
    searchPlaces: SEARCH_PLACES,
    packageProp: 'mlcBuild',
    searchStrategy: 'project',
    cache: false,
    loaders: {
      '.yaml': found,
      '.yml': found,
      noExt: found,
      '.json': (filepath: string, content: string) => {
        if (basename(filepath) !== 'package.json') return found();
        try {
          return JSON.parse(content) as unknown;
        } catch {
          return null;
        }
      },
    },
  });
  const result = await explorer.search(cwd);
  if (!result) {
    return err([
      error(
        `no manifest found in ${cwd} or the folders above it (looked for ${SEARCH_PLACES.slice(0, -1).join(', ')} and package.json#mlcBuild); run mlc-build init to write one, or pass --config FILE`,
      ),
    ]);
  }
  return ok(result.filepath);
}

export async function loadManifestFile(file: string): Promise<Result<Loaded, Diagnostic[]>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err([error(code === 'ENOENT' ? `manifest ${file} not found` : `cannot read manifest ${file}: ${(e as Error).message}`)]);
  }
  const parsed = ManifestSource.parse(file, text, basename(file) === 'package.json' ? ['mlcBuild'] : []);
  if (!parsed.ok) return parsed;
  return resolveManifest(parsed.value);
}

export function resolveManifest(src: ManifestSource): Result<Loaded, Diagnostic[]> {
  const shape = checkShape(src);
  if (!shape.ok) return shape;
  const raw = shape.value;
  const root = dirname(src.file);
  const diags: Diagnostic[] = [];
  const models = checkModels(raw, src, root, diags);
  const quantizations = checkQuantizations(raw, src, diags);
  const targets = resolveTargets(raw, src, diags);
  const rules = checkMatrixRules(raw, src, targets, diags);
  const naming = checkNaming(raw, src, diags);
  const cacheLimits = checkCacheLimits(raw, src, diags);
  if (raw.toolchain?.install !== undefined && raw.toolchain.mlc_llm !== undefined) {
    diags.push(
      error(
        'toolchain.install and toolchain.mlc_llm are alternatives: install lets mlc-build set up mlc_llm, mlc_llm names one already installed; keep one',
        src.locate(['toolchain', 'install'], { key: true }),
      ),
    );
  }
  if (diags.some((d) => d.severity === 'error')) return err(diags);

  const cells = expandMatrix({ model: models.map((m) => m.id), quant: quantizations, target: targets.map((t) => t.name) }, rules.exclude, rules.include);
  if (cells.length === 0) {
    const at = raw.matrix?.exclude ? src.locate(['matrix', 'exclude'], { key: true }) : src.locate([]);
    return err([...diags, error('the matrix is empty: matrix.exclude removes every model × quantization × target', at)]);
  }
  const allTargets = [...targets, ...rules.extraTargets];
  const modelById = new Map(models.map((m) => [m.id, m]));
  const targetByName = new Map(allTargets.map((t) => [t.name, t]));
  const resolvedCells: Cell[] = cells.map((c) => {
    const model = modelById.get(c.model);
    const target = targetByName.get(c.target);
    if (!model || !target) throw new Error(`matrix cell ${cellKey(c)} names an unresolved model or target`);
    const includeLayers = c.includes.map((i) => rules.include[i]?.config);
    return {
      id: cellKey(c),
      model: c.model,
      quant: c.quant,
      target: c.target,
      options: layer(target.presetConfig, raw.config, model.config, target.config, ...includeLayers),
      includes: c.includes,
    };
  });
  return ok({
    manifest: {
      file: src.file,
      root,
      out: resolve(root, raw.out ?? 'dist'),
      cache: resolve(root, (typeof raw.cache === 'string' ? raw.cache : raw.cache?.path) ?? '.mlc-build'),
      cacheLimits,
      resources: resourcesOf(raw),
      watch: { debounceMs: raw.watch?.debounce_ms, poll: raw.watch?.poll, supersede: { ...raw.watch?.supersede } },
      ...(raw.remote_cache ? { remoteCache: remoteCacheOf(raw.remote_cache) } : {}),
      toolchain: { mlcLlm: raw.toolchain?.mlc_llm, fingerprint: raw.toolchain?.fingerprint, ...installOf(raw.toolchain?.install, root) },
      ci: raw.ci?.runs_on?.convert !== undefined ? { convertRunner: raw.ci.runs_on.convert } : {},
      publish: { hub: publishHubOf(raw.publish?.hub) },
      models,
      quantizations,
      targets: allTargets,
      config: raw.config ?? {},
      cells: resolvedCells,
      naming,
      source: src,
    },
    warnings: diags,
  });
}

/** `toolchain.install` with local find_links resolved against the project. */
/** `remote_cache:` in the manifest's terms (milliseconds; the age checked by the schema). */
function remoteCacheOf(raw: NonNullable<RawManifest['remote_cache']>): NonNullable<Manifest['remoteCache']> {
  const recheck = raw.recheck_after === undefined ? undefined : parseAge(raw.recheck_after);
  return {
    url: raw.url,
    readOnly: raw.read_only ?? false,
    ...(raw.timeout_ms !== undefined ? { timeoutMs: raw.timeout_ms } : {}),
    ...(raw.connect_timeout_ms !== undefined ? { connectTimeoutMs: raw.connect_timeout_ms } : {}),
    ...(raw.first_byte_timeout_ms !== undefined ? { firstByteTimeoutMs: raw.first_byte_timeout_ms } : {}),
    ...(raw.idle_timeout_ms !== undefined ? { idleTimeoutMs: raw.idle_timeout_ms } : {}),
    ...(recheck !== undefined ? { recheckAfterMs: recheck } : {}),
  };
}

function installOf(raw: NonNullable<RawManifest['toolchain']>['install'], root: string): { install?: ToolchainInstall } {
  if (raw === undefined) return {};
  if (raw === 'nightly') return { install: { nightly: true, packages: [], findLinks: [] } };
  const links = (raw.find_links ?? []).map((l) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(l) ? l : resolve(root, l)));
  return {
    install: {
      nightly: false,
      packages: raw.packages,
      findLinks: links,
      ...(raw.index_url !== undefined ? { indexUrl: raw.index_url } : {}),
      ...(raw.python !== undefined ? { python: raw.python } : {}),
    },
  };
}

function publishHubOf(raw: NonNullable<RawManifest['publish']>['hub']): PublishHubSettings {
  if (raw === undefined) return {};
  return {
    ...(raw.org !== undefined ? { org: raw.org } : {}),
    ...(raw.weights_repo !== undefined ? { weightsRepo: raw.weights_repo } : {}),
    ...(raw.libs_repo !== undefined ? { libsRepo: raw.libs_repo } : {}),
    ...(raw.private !== undefined ? { private: raw.private } : {}),
  };
}
