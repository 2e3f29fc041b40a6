// Builds a validated manifest (and its graph) from YAML text, without a file on disk.
import { buildGraph, type BuildGraph } from '../../src/graph/build.js';
import { resolveManifest } from '../../src/manifest/load.js';
import { ManifestSource } from '../../src/manifest/source.js';
import type { Manifest } from '../../src/manifest/types.js';
import type { Diagnostic } from '../../src/manifest/diagnostic.js';

export const FILE = '/project/mlc.build.yaml';

export function manifestOf(yaml: string): Manifest {
  const src = ManifestSource.parse(FILE, yaml);
  if (!src.ok) throw new Error(src.error.map((d) => d.message).join('\n'));
  const m = resolveManifest(src.value);
  if (!m.ok) throw new Error(m.error.map((d) => d.message).join('\n'));
  return m.value.manifest;
}

export function diagnosticsOf(yaml: string): Diagnostic[] {
  const src = ManifestSource.parse(FILE, yaml);
  if (!src.ok) return src.error;
  const m = resolveManifest(src.value);
  return m.ok ? m.value.warnings : m.error;
}

export function graphOf(yaml: string): { manifest: Manifest; graph: BuildGraph } {
  const manifest = manifestOf(yaml);
  const graph = buildGraph(manifest);
  if (!graph.ok) throw new Error(graph.error.map((d) => d.message).join('\n'));
  return { manifest, graph: graph.value };
}
