// Variant tags and output names (DESIGN §2): `ctx768`, `sw1k_cs128`, `noctx`, web-llm style.
import { recipes } from '../recipes/index.js';
import type { GenOptions, Naming } from '../manifest/types.js';

/** 4096 → "4k", 768 → "768" (binary-mlc-llm-libs' metadata tokens). */
export function sizeToken(n: number): string {
  return n % 1024 === 0 ? `${n / 1024}k` : String(n);
}

/** The options that differ from the base variant, in tag order; "" for the base itself. */
export function variantTag(options: GenOptions, base: GenOptions): string {
  const parts: string[] = [];
  for (const opt of recipes().genConfigOptions) {
    const key = opt.key as keyof GenOptions;
    const v = options[key];
    if (v === base[key]) continue;
    if (v === undefined) parts.push(`no${opt.tag}`);
    else if (typeof v === 'boolean') parts.push(opt.tag);
    else parts.push(`${opt.tag}${sizeToken(v)}`);
  }
  return parts.join('_');
}

/** A stable key for a set of options: equal options, one config node. */
export function optionsKey(options: GenOptions): string {
  return recipes()
    .genConfigOptions.filter((o) => options[o.key as keyof GenOptions] !== undefined)
    .map((o) => `${o.key}=${String(options[o.key as keyof GenOptions])}`)
    .join(';');
}

export interface NameParts {
  model: string;
  quant: string;
  tag: string;
  target?: string;
  stem?: string;
  ext?: string;
}

/** Fills a naming template: {model} {quant} {tag} {-tag} ("-" + tag, or nothing for base) {target} {stem} {ext}. */
export function renderName(template: string, parts: NameParts): string {
  return template.replace(/\{(-?)([a-z]+)\}/g, (_, dash: string, name: string) => {
    const value = name === 'tag' ? parts.tag : (parts[name as keyof NameParts] ?? '');
    return dash && value !== '' ? `-${value}` : value;
  });
}

export const weightsFolderName = (naming: Naming, p: NameParts): string => renderName(naming.weights, p);
export const libraryName = (naming: Naming, p: NameParts): string => renderName(naming.library, p);

/**
 * A target's system_lib_prefix for one cell: placeholders filled, and what is not a C identifier
 * character (the "-" and "." of model ids) made "_"; a filled prefix ends in "_" as mlc_llm's own
 * do, since `mlc_llm package` finds the library by `<model_lib>___tvm_ffi__library_bin`.
 */
export function systemLibPrefixFor(template: string, parts: NameParts): string {
  if (!/\{-?[a-z]+\}/.test(template)) return template;
  const filled = renderName(template, parts).replace(/[^A-Za-z0-9_]/g, '_');
  return filled.endsWith('_') ? filled : `${filled}_`;
}
