// Shape check: zod issues turned into located diagnostics that name the key and what was expected.
import type { z } from 'zod';
import { error, type Diagnostic } from './diagnostic.js';
import { KNOWN_KEYS, ManifestSchema, type RawManifest } from './schema.js';
import type { ManifestSource, Path } from './source.js';
import { didYouMean } from './suggest.js';
import { err, ok, type Result } from '../result.js';

type Issue = z.core.$ZodIssue;

export function checkShape(src: ManifestSource): Result<RawManifest, Diagnostic[]> {
  const value = src.value();
  if (value === null || value === undefined) {
    return err([error('the manifest is empty (it needs at least version, models, quantizations and targets)', src.locate([]))]);
  }
  const parsed = ManifestSchema.safeParse(value);
  if (parsed.success) return ok(parsed.data);
  const diags: Diagnostic[] = [];
  for (const issue of parsed.error.issues) diags.push(...describe(issue, [], src, value));
  return err(dedupe(diags));
}

function describe(issue: Issue, prefix: Path, src: ManifestSource, root: unknown): Diagnostic[] {
  const path: Path = [...prefix, ...(issue.path as (string | number)[])];
  const value = valueAt(root, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const { noun, where, known } = keyContext(path, root);
      return issue.keys.map((k) => error(`unknown ${noun} ${JSON.stringify(k)}${where}${didYouMean(k, known)}`, src.locate([...path, k], { key: true })));
    }
    case 'invalid_union': {
      // Report the branch that fits the value's kind (an object target, a list of names...).
      const fitting = issue.errors.filter((branch) => branch.every((i) => i.path.length > 0 || i.code !== 'invalid_type'));
      if (fitting.length === 1 && fitting[0]) return fitting[0].flatMap((i) => describe(i, path, src, root));
      const what =
        path.includes('targets') && typeof path[path.length - 1] === 'number' && path.length === 2
          ? 'a target preset name or a target object {name, device, ext, …}'
          : 'a name or a list of names';
      return [error(`${label(path)} must be ${what}, got ${show(value)}`, src.locate(path))];
    }
    case 'invalid_type':
      if (value === undefined) {
        const key = path[path.length - 1];
        const parent = path.slice(0, -1);
        if (parent[0] === 'models' && parent.length === 2 && key === 'source') {
          return [error(`model ${JSON.stringify(parent[1])} has no source (hf://org/name, git+URL or a local folder)`, src.locate(parent, { key: true }))];
        }
        return [error(`${where(parent)} is missing required key ${JSON.stringify(String(key))}`, src.locate(parent, { key: parent.length > 0 }))];
      }
      return [error(`${label(path)} ${issue.message}, got ${show(value)}`, src.locate(path))];
    case 'custom':
      return [error(`${label(path)} ${issue.message}`, src.locate(path))];
    default:
      return [error(`${label(path)} ${issue.message}${value === undefined ? '' : `, got ${show(value)}`}`, src.locate(path))];
  }
}

function keyContext(path: Path, root: unknown): { noun: string; where: string; known: readonly string[] } {
  const last = path[path.length - 1];
  const key = (where: string, known: readonly string[]) => ({ noun: 'key', where: ` in ${where}`, known });
  if (path.length === 0) return { noun: 'top-level key', where: '', known: KNOWN_KEYS.top };
  if (last === 'config') return { noun: 'gen_config option', where: '', known: KNOWN_KEYS.config };
  if (last === 'overrides') return { noun: 'compile override', where: '', known: KNOWN_KEYS.overrides };
  if (last === 'download') return key('download', KNOWN_KEYS.download);
  if (path[0] === 'toolchain') return key('toolchain', KNOWN_KEYS.toolchain);
  if (path[0] === 'remote_cache') return key('remote_cache', KNOWN_KEYS.remote_cache);
  if (path[0] === 'ci' && path.length === 1) return key('ci', KNOWN_KEYS.ci);
  if (path[0] === 'publish') return path.length === 1 ? key('publish', KNOWN_KEYS.publish) : key('publish.hub', KNOWN_KEYS.publish_hub);
  if (path[0] === 'naming') return key('naming', KNOWN_KEYS.naming);
  if (path[0] === 'watch') return path.length === 1 ? key('watch', KNOWN_KEYS.watch) : key('watch.supersede', KNOWN_KEYS.supersede);
  if (path[0] === 'models') return key(`model ${JSON.stringify(path[1])}`, KNOWN_KEYS.model);
  if (path[0] === 'targets') {
    const name = (valueAt(root, path) as { name?: unknown } | undefined)?.name;
    return key(typeof name === 'string' ? `target ${JSON.stringify(name)}` : `targets[${String(last)}]`, KNOWN_KEYS.target);
  }
  if (path[0] === 'matrix' && path.length === 1) return key('matrix', KNOWN_KEYS.matrix);
  if (path[1] === 'include') return key('matrix.include', KNOWN_KEYS.include);
  return key('matrix.exclude', KNOWN_KEYS.exclude);
}

/** `context_window_size`, `targets[2]`: the name a user recognises. */
function label(path: Path): string {
  const last = path[path.length - 1];
  if (last === undefined) return 'the manifest';
  if (typeof last === 'number') {
    const parent = path[path.length - 2];
    return `${String(parent)}[${last}]`;
  }
  return last;
}

function where(path: Path): string {
  if (path.length === 0) return 'the manifest';
  if (path[0] === 'models' && path.length === 2) return `model ${JSON.stringify(path[1])}`;
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : p))
    .join('.')
    .replace(/\.\[/g, '[');
}

export function show(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (a string)`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const seg of path) v = (v as Record<string | number, unknown> | undefined)?.[seg];
  return v;
}

function dedupe(diags: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diags.filter((d) => {
    const key = `${d.location?.line}:${d.location?.col}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
