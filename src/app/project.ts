// Everything a command needs before it acts: the manifest, what local sources say, the graph.
import { checkModelQuantizations } from '../manifest/compat.js';
import { error, type Diagnostic } from '../manifest/diagnostic.js';
import { findManifest, loadManifestFile } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import { buildGraph, type BuildGraph } from '../graph/build.js';
import { err, ok, type Result } from '../result.js';
import { readLocalConfig } from '../sources/local.js';
import { resolveToolchainCommand, type ToolchainCommand } from '../toolchain/command.js';
import { detectModelType } from '../toolchain/model-type.js';
import { remoteSettings, type RemoteFlags, type RemoteSettings } from '../store/remote/settings.js';

/** The options every command and watch share (the command line's global flags). */
export interface GlobalOptions extends RemoteFlags {
  config?: string;
  tokenFile?: string;
  allHosts?: boolean;
}

/** The remote cache flags of the global options. */
export function remoteFlags(opts: GlobalOptions): RemoteFlags {
  return { remoteCache: opts.remoteCache, remoteCacheReadOnly: opts.remoteCacheReadOnly, remoteCacheTimeouts: opts.remoteCacheTimeouts };
}

export interface Project {
  manifest: Manifest;
  graph: BuildGraph;
  toolchain: ToolchainCommand;
  warnings: Diagnostic[];
  /** The remote cache this command talks to, if any. */
  remote?: RemoteSettings;
}

/** The project of the current folder (or --config), as the global options ask for it. */
export function loadProjectFor(global: GlobalOptions): Promise<Result<Project, Diagnostic[]>> {
  return loadProject({ cwd: process.cwd(), config: global.config, env: process.env, remote: remoteFlags(global) });
}

export async function loadProject(opts: {
  cwd: string;
  config?: string;
  env: NodeJS.ProcessEnv;
  remote?: RemoteFlags;
}): Promise<Result<Project, Diagnostic[]>> {
  const file = await findManifest(opts.cwd, opts.config);
  if (!file.ok) return file;
  const loaded = await loadManifestFile(file.value);
  if (!loaded.ok) return loaded;
  const { manifest, warnings } = loaded.value;

  const diags: Diagnostic[] = [...warnings];
  const modelTypes = new Map<string, string>();
  const used = new Set(manifest.cells.map((c) => c.model));
  await Promise.all(
    manifest.models
      .filter((m) => used.has(m.id))
      .map(async (model) => {
        if (model.modelType !== undefined) modelTypes.set(model.id, model.modelType);
        if (model.source.kind !== 'local') return;
        const at = manifest.source.locate([...model.path, 'source']);
        const config = await readLocalConfig(model.source.path);
        if (!config.ok) return void diags.push(error(config.error, at));
        if (model.modelType !== undefined) return;
        const type = detectModelType(config.value);
        if (!type.ok) return void diags.push(error(`model ${JSON.stringify(model.id)}: ${type.error}`, at));
        modelTypes.set(model.id, type.value);
      }),
  );
  diags.push(...checkModelQuantizations(manifest, modelTypes));

  const toolchain = resolveToolchainCommand(manifest.toolchain.mlcLlm, opts.env, manifest.toolchain.install !== undefined);
  if (!toolchain.ok) {
    diags.push(error(toolchain.error, opts.env.MLC_BUILD_MLC_LLM ? undefined : manifest.source.locate(['toolchain', 'mlc_llm'])));
  }
  const remote = remoteSettings(manifest.remoteCache, opts.remote ?? {}, opts.env);
  if (!remote.ok) {
    const fromManifest = remote.error.startsWith('remote_cache.');
    diags.push(error(remote.error, fromManifest ? manifest.source.locate(['remote_cache', 'url']) : undefined));
  }
  if (diags.some((d) => d.severity === 'error') || !toolchain.ok || !remote.ok) return err(diags);

  const graph = buildGraph(manifest);
  if (!graph.ok) return err([...diags, ...graph.error]);
  return ok({ manifest, graph: graph.value, toolchain: toolchain.value, warnings: diags, ...(remote.value ? { remote: remote.value } : {}) });
}
