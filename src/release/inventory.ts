// release.json (what the release holds, machine-readable and byte-identical for the same build)
// and SHA256SUMS (as `sha256sum -c` reads it).
import type { Fingerprint } from '../toolchain/fingerprint.js';
import { byText, type LibraryEntry, type ReleaseFile, type WeightsEntry } from './collect.js';
import type { LibraryFigures } from './figures.js';

export interface ToolchainFacts {
  fingerprint: string;
  python?: string;
  /** Distribution → version (and commit, for VCS installs), for mlc_llm and TVM. */
  packages: Record<string, string>;
}

/** The part of a fingerprint worth publishing: versions, never this machine's paths. */
export function toolchainFacts(fp: Fingerprint): ToolchainFacts {
  const packages: Record<string, string> = {};
  for (const mod of ['mlc_llm', 'tvm']) {
    const info = fp.facts[mod] as { dists?: Record<string, { version: string; commit: string | null }> } | null | undefined;
    for (const [name, d] of Object.entries(info?.dists ?? {})) packages[name] = d.commit ? `${d.version} (${d.commit})` : d.version;
  }
  return {
    fingerprint: fp.digest,
    ...(typeof fp.facts.python === 'string' ? { python: fp.facts.python } : {}),
    packages: Object.fromEntries(Object.entries(packages).sort(([a], [b]) => byText(a, b))),
  };
}

export interface SourceFacts {
  model: string;
  source: string;
  revision?: string;
  commit?: string;
}

export interface ReleaseInventory {
  generator: string;
  /** Only with SOURCE_DATE_EPOCH set: a release has no date of its own. */
  date?: string;
  manifest: { file: string; sha256: string };
  toolchain: ToolchainFacts;
  sources: SourceFacts[];
  libraries: ReturnType<typeof libraryFacts>[];
  weights: ReturnType<typeof weightsFacts>[];
  configs: { path: string; sha256: string }[];
  missing: { cell: string; reason: string }[];
  /** Only in a published release: the commit of each hub repository its URLs are pinned to. */
  published?: PublishedFacts;
}

export interface PublishedFacts {
  endpoint: string;
  /** "ORG/NAME" → the commit sha. */
  repos: Record<string, string>;
}

const fileFacts = (f: ReleaseFile) => ({ path: f.path, size: f.size, sha256: f.digest });

export function libraryFacts(lib: LibraryEntry, f: LibraryFigures) {
  return {
    cell: lib.cell.id,
    model: lib.cell.model,
    quantization: lib.cell.quant,
    // Stryker disable next-line StringLiteral: split('/').pop() of a string is never undefined
    variant: lib.node.inputs.config.split('/').pop() ?? 'base',
    target: lib.target.name,
    device: lib.target.device,
    ...fileFacts(lib.file),
    weights: lib.weights,
    // Stryker disable next-line ConditionalExpression: JSON leaves an undefined field out all the same
    ...(f.systemLibPrefix !== undefined ? { system_lib_prefix: f.systemLibPrefix } : {}),
    memory: f.memory,
    buffer_size_required_bytes: f.largestBufferBytes,
    low_resource_required: f.lowResource,
  };
}

export function weightsFacts(w: WeightsEntry, card: ReleaseFile | undefined) {
  return {
    model: w.model,
    quantization: w.quant,
    variant: w.variant,
    path: w.folder,
    files: [...w.files, ...(card ? [card] : [])].sort((a, b) => byText(a.path, b.path)).map(fileFacts),
  };
}

/** `sha256sum -c` format: digest, two spaces (text mode), path; sorted by path. */
export function sha256sums(files: readonly { path: string; digest: string }[]): string {
  return [...files]
    .sort((a, b) => byText(a.path, b.path))
    .map((f) => `${f.digest}  ${f.path}\n`)
    .join('');
}

export function sourceDate(env: NodeJS.ProcessEnv): string | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return new Date(Number(v) * 1000).toISOString();
}
