// Which files of a model repository the steps read (FACTS.md §1.2 step 6, §1.1): the small `meta`
// files gen_config reads, and the weights convert_weight reads; `download:` globs adjust it. The
// rules are the same for every source kind (hub, git, local folder).
import picomatch from 'picomatch';
import { isAbsolute, posix } from 'node:path';
import { err, ok, type Result } from '../result.js';
import { must } from '../must.js';
export const META_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.model',
  'tokenizer.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

export function isMetaFile(name: string): boolean {
  return META_FILES.includes(name) || /^rwkv_vocab_v\d+\.(json|txt)$/.test(name) || name.endsWith('.tiktoken');
}

export function isWeightFile(name: string): boolean {
  return /\.(safetensors|bin)$/.test(name) || name === 'model.safetensors.index.json' || name === 'pytorch_model.bin.index.json';
}

export interface FileRules {
  include: string[];
  exclude: string[];
}

/** The part a file belongs to: weights if it looks like one, else the small meta files. */
export function partOf(path: string): 'meta' | 'weights' {
  return isWeightFile(posix.basename(path)) ? 'weights' : 'meta';
}

/** The default selection of a part, plus `include` matches of that part, minus `exclude` matches. */
export function applyRules(all: readonly string[], part: 'meta' | 'weights', selected: readonly string[], rules: FileRules): string[] {
  if (rules.include.length === 0 && rules.exclude.length === 0) return [...selected];
  const include = picomatch(rules.include.length > 0 ? rules.include : ['!**'], { dot: true });
  const exclude = picomatch(rules.exclude.length > 0 ? rules.exclude : ['!**'], { dot: true });
  const chosen = new Set(selected);
  for (const p of all) if (partOf(p) === part && rules.include.length > 0 && include(p)) chosen.add(p);
  return [...chosen].filter((p) => !(rules.exclude.length > 0 && exclude(p))).sort();
}

/** A file of a repository at a commit (hub or git). */
export interface RepoFile {
  path: string;
  size: number;
  /** Git blob sha1 (small files) or, for LFS files, the sha256 of the content. */
  oid: string;
  lfs: boolean;
}

/** A path from the server that would land outside the snapshot is refused. */
export function safeRepoPath(path: string): boolean {
  if (path === '' || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return false;
  const n = posix.normalize(path);
  return !n.startsWith('../') && n !== '..' && !n.split('/').includes('..');
}

/** The weights index of the format that will be selected (safetensors when present). */
export function weightsIndexName(files: readonly RepoFile[]): string {
  return files.some((f) => !f.path.includes('/') && f.path.endsWith('.safetensors')) ? 'model.safetensors.index.json' : 'pytorch_model.bin.index.json';
}

/** Meta files, or the weights in one format (safetensors if present, else PyTorch .bin). */
export function selectFiles(
  files: readonly RepoFile[],
  part: 'meta' | 'weights',
  index?: { weight_map?: Record<string, string> },
  rules: FileRules = { include: [], exclude: [] },
): Result<RepoFile[], string> {
  const chosen = defaultSelection(files, part, index);
  if (!chosen.ok) return chosen;
  const byPath = new Map(files.map((f) => [f.path, f]));
  const paths = applyRules(
    [...byPath.keys()],
    part,
    chosen.value.map((f) => f.path),
    rules,
  );
  if (part === 'meta' && !paths.includes('config.json')) return err('config.json is excluded by download.exclude, but every step needs it');
  return ok(paths.map((p) => must(byPath, p, 'listed file')));
}

function defaultSelection(files: readonly RepoFile[], part: 'meta' | 'weights', index?: { weight_map?: Record<string, string> }): Result<RepoFile[], string> {
  const top = files.filter((f) => !f.path.includes('/'));
  if (part === 'meta') {
    const meta = top.filter((f) => isMetaFile(f.path));
    return meta.some((f) => f.path === 'config.json') ? ok(meta) : err('the repository has no config.json');
  }
  for (const [format, indexName] of [
    ['.safetensors', 'model.safetensors.index.json'],
    ['.bin', 'pytorch_model.bin.index.json'],
  ] as const) {
    const weights = top.filter((f) => f.path.endsWith(format));
    if (weights.length === 0) continue;
    const idx = top.find((f) => f.path === indexName);
    if (idx && index?.weight_map) {
      const named = new Set(Object.values(index.weight_map));
      const chosen = weights.filter((f) => named.has(f.path));
      const missing = [...named].filter((n) => !weights.some((w) => w.path === n));
      if (missing.length > 0) return err(`${indexName} names files the repository does not have: ${missing.join(', ')}`);
      return ok([idx, ...chosen]);
    }
    return ok(idx ? [idx, ...weights] : weights);
  }
  return err('the repository has no weights (*.safetensors or *.bin at its top level)');
}
