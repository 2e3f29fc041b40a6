// What `ci init` warns about in the manifest: settings that hold on this machine but not on a fresh
// runner. The workflow is still written (exit 0): the user may have runners that match.
import { isAbsolute } from 'node:path';
import type { Manifest } from '../manifest/types.js';
import { ciRecipe } from '../recipes/index.js';
import { manifestNeedsWebRuntime } from './web-runtime.js';

const asRecord = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function ciInitWarnings(manifest: Manifest): string[] {
  // The manifest as written: out: and cache: are absolute once loaded, whatever the user wrote.
  const raw = asRecord(manifest.source.value());
  const toolchain = asRecord(raw.toolchain);
  const warnings: string[] = [];
  if (manifest.toolchain.install === undefined) {
    // nightly wheels name no mlc-llm commit, which webgpu cells need (webRuntimeCommit).
    const example = manifestNeedsWebRuntime(manifest)
      ? `toolchain: { install: { packages: [git+${ciRecipe().web_runtime.mlc_llm_repo}@COMMIT] } }`
      : 'toolchain: { install: nightly }';
    warnings.push(
      `the toolchain is unmanaged (toolchain.mlc_llm${typeof toolchain.mlc_llm === 'string' ? `: ${toolchain.mlc_llm}` : ''}): every runner must have mlc_llm installed already, and the release job cannot find other platforms' libraries by their keys; set toolchain.install (e.g. ${example}) so jobs install the pinned wheels of mlc.build.lock`,
    );
  }
  const absolute: string[] = [];
  if (typeof toolchain.mlc_llm === 'string' && isAbsolute(toolchain.mlc_llm.split(' ')[0] ?? '')) absolute.push(`toolchain.mlc_llm: ${toolchain.mlc_llm}`);
  for (const [name, model] of Object.entries(asRecord(raw.models))) {
    const source = asRecord(model).source;
    if (typeof source === 'string' && isAbsolute(source)) absolute.push(`models.${name}.source: ${source}`);
  }
  for (const key of ['out', 'cache'] as const) {
    const value = raw[key];
    if (typeof value === 'string' && isAbsolute(value)) absolute.push(`${key}: ${value}`);
  }
  if (absolute.length > 0) {
    warnings.push(
      `the manifest holds absolute paths a runner will not have (use paths relative to the manifest, or hf:// and git+ sources): ${absolute.join('; ')}`,
    );
  }
  return warnings;
}
