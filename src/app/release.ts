// A release of a selection of cells, as `release` and `publish` make it: which cells,
// which of them this host builds and which come from a cache keyed as another host keys them,
// the build of what is lacking, then the folder assembled and written whole.
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { NodeResult } from '../exec/build.js';
import { nodeOfKind } from '../graph/nodes.js';
import { cellNodes, cellsMatching, parseSelectors, withDependencies } from '../graph/select.js';
import { readLock } from '../lockfile/lock-file.js';
import type { Cell } from '../manifest/types.js';
import { assemble, type Assembled, type ReleaseSettings } from '../release/assemble.js';
import { byText, collect, type Collected } from '../release/collect.js';
import { toolchainFacts } from '../release/inventory.js';
import type { Urls } from '../release/web-llm.js';
import { replaceProblem, writeRelease } from '../release/write.js';
import { err, ok, type Result } from '../result.js';
import { sha256 } from '../store/hash.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { foreignKeys } from './foreign.js';
import { allHostsRequested, hostView } from './host-aware.js';
import { openContext, readOnlyPlan } from './context.js';
import type { GlobalOptions, Project } from './project.js';
import { buildSelected } from './run-build.js';

export interface MissingCell {
  cell: string;
  reason: string;
}

/** The cells a release's selectors name (model=, quant=, target=, compile node ids), or why they name none. */
export function releaseCells(project: Project, selectors: readonly string[], commands: readonly string[]): Result<Cell[], string> {
  const { manifest, graph } = project;
  const sel = parseSelectors(selectors, graph, manifest, commands);
  if (!sel.ok) return sel;
  if (sel.value.steps) return err('a release is made of cells: select them with model=, quant=, target= or compile node ids, not step=');
  const byCompile = new Map(manifest.cells.map((c) => [graph.cells.get(c.id)?.compile, c]));
  const named: Cell[] = [];
  for (const id of sel.value.ids) {
    const cell = byCompile.get(id);
    if (!cell) return err(`${id} is not a compile node: a release is made of cells (compile:MODEL/QUANT/TARGET)`);
    named.push(cell);
  }
  const dims = sel.value.dims;
  const byDims = Object.keys(dims).length > 0 || named.length === 0 ? cellsMatching(manifest, dims) : [];
  const wanted = [...new Set([...byDims, ...named])];
  return wanted.length === 0 ? err('the selectors match no cell of the matrix') : ok(wanted);
}

/** The release folder (default release/ beside the manifest), or why it cannot be one. */
export function releaseFolder(project: Project, flag: string | undefined): Result<string, string> {
  const { manifest } = project;
  const out = flag === undefined ? join(manifest.root, 'release') : resolve(flag);
  const inside = (dir: string, root: string) => {
    const rel = relative(root, dir);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  if (inside(out, manifest.out) || inside(manifest.out, out) || inside(out, manifest.cache) || inside(manifest.cache, out) || inside(manifest.root, out))
    return err(`--out ${flag ?? out} overlaps the project, out/ or the store; choose a folder of its own`);
  const replace = replaceProblem(out);
  return replace === undefined ? ok(out) : err(replace);
}

export interface ReleaseRequest {
  cells: Cell[];
  out: string;
  global: GlobalOptions;
  jobs: number | undefined;
  keepGoing: boolean;
  allowPartial: boolean;
  verify: boolean;
  update: boolean;
  assembly: { baseUrl?: string; libUrl?: string; lowResourceMB: number; generator: string };
}

export type ReleaseResult =
  | { written: Assembled; missing: MissingCell[] }
  /** Cells have no library and the release may not be partial: nothing written. */
  | { incomplete: MissingCell[] }
  | { failed: string[]; exit: ExitCode };

/** What a built release offers while it is open: what the build left, and its files for any URLs. */
export interface OpenRelease {
  collected: Collected;
  missing: MissingCell[];
  /** The release's files with these URLs (publish pins them) and, if given, its own library layout. */
  assemble(urls: Urls, extra?: Pick<ReleaseSettings, 'libraryPath' | 'published'>): Result<Assembled, string[]>;
}

/** Builds what the cells lack (the caller holds the project lock), then writes the release folder whole. */
export async function makeRelease(project: Project, req: ReleaseRequest): Promise<ReleaseResult> {
  return withRelease(project, req, async (release) => {
    const assembled = release.assemble(req.assembly);
    if (!assembled.ok) return { failed: assembled.error, exit: EXIT.stepFailed };
    const written = await writeRelease(req.out, assembled.value.contents);
    if (!written.ok) return { failed: [written.error], exit: EXIT.stepFailed };
    return { written: assembled.value, missing: release.missing };
  });
}

/**
 * Builds what the cells lack and collects what the build left; `use` then assembles (and writes)
 * the release while the build's context is open. A release that cannot be made is returned as such.
 */
export async function withRelease<T>(
  project: Project,
  req: ReleaseRequest,
  use: (release: OpenRelease) => Promise<T>,
): Promise<T | { incomplete: MissingCell[] } | { failed: string[]; exit: ExitCode }> {
  const { graph } = project;
  const split = await splitByHost(project, req.cells, req.global);
  const selected = withDependencies(graph, cellNodes(graph, split.buildable));
  let results: ReadonlyMap<string, NodeResult> = new Map();
  if (selected.size > 0) {
    const built = await buildSelected(project, selected, { keepGoing: req.keepGoing || req.allowPartial, verify: req.verify, update: req.update }, req.global, {
      jobs: req.jobs,
      force: undefined,
      foreign: { keys: split.foreign, restoreOnly: split.restoreOnly },
    });
    if (built.exit === EXIT.interrupted || built.exit === EXIT.internal) return { failed: [], exit: built.exit };
    results = built.outcome.results;
  }
  const ctx = await openContext(project, { readOnly: true, verify: req.verify });
  try {
    const collected = await collect(ctx, split.buildable, results);
    collected.missing.push(...split.missing);
    collected.missing.sort((a, b) => byText(a.cell, b.cell));
    if (collected.missing.length > 0 && !req.allowPartial) return { incomplete: collected.missing };
    const { manifest } = project;
    const fp = await ctx.fingerprint();
    const settings: Omit<ReleaseSettings, keyof Urls> = {
      lowResourceMB: req.assembly.lowResourceMB,
      generator: req.assembly.generator,
      manifestFile: ctx.display(manifest.file),
      manifestDigest: sha256(manifest.source.text),
      toolchain: fp.ok ? toolchainFacts(fp.value) : { fingerprint: '', packages: {} },
      lock: await readLock(manifest.root),
      env: process.env,
    };
    return await use({
      collected,
      missing: collected.missing,
      assemble: (urls, extra) => assemble(ctx, collected, { ...settings, ...urls, ...extra }),
    });
  } finally {
    await ctx.store.close();
  }
}

/**
 * Which cells this host builds; another host's come from a cache keyed as that host keys them, or
 * are missing. A target this host cannot build whose libraries in the release are all fresh here
 * (built with --all-hosts) is released as built here: plan and status call them fresh too.
 */
async function splitByHost(project: Project, cells: readonly Cell[], global: GlobalOptions) {
  const host = await hostView(project, allHostsRequested(global.allHosts, process.env), process.env);
  const foreign = await foreignKeys(project, host);
  const unbuildable = cells.filter((c) => host.missing.has(c.target));
  const freshHere = await librariesFreshHere(project, unbuildable);
  const allHere = new Set(unbuildable.filter((c) => unbuildable.every((o) => o.target !== c.target || freshHere.has(o.id))).map((c) => c.target));
  for (const t of allHere) foreign.delete(t);
  const restoreOnly = new Map<string, string>();
  const missing: MissingCell[] = [];
  const buildable = cells.filter((c) => {
    const lacks = host.missing.get(c.target);
    if (lacks === undefined || allHere.has(c.target)) return true;
    const key = foreign.get(c.target);
    const why = `cannot be built on this host: ${c.target} needs ${lacks}`;
    // Some of the target's libraries are here and some are not: --all-hosts keys them all as this host does.
    const builtHere = freshHere.has(c.id) ? '; its library here was built with --all-hosts: pass --all-hosts to release it' : '';
    if (!key?.ok) {
      missing.push({ cell: c.id, reason: `${why} (and ${key?.reason ?? 'its key is unknown here'})${builtHere}` });
      return false;
    }
    restoreOnly.set(project.graph.cells.get(c.id)?.compile ?? '', `${why}, and no cache has it from such a host${builtHere}`);
    return true;
  });
  return { buildable, missing, restoreOnly, foreign };
}

/** The cells whose library is fresh in out/ as this host keys it (built here with --all-hosts). */
async function librariesFreshHere(project: Project, cells: readonly Cell[]): Promise<Set<string>> {
  const { graph } = project;
  const compileOf = (c: Cell) => nodeOfKind(graph.nodes, graph.cells.get(c.id)?.compile ?? '', 'compile');
  // Only a library in out/ can be fresh: a CI release job (an empty out/) evaluates nothing more.
  const placed = cells.filter((c) => existsSync(compileOf(c).library));
  if (placed.length === 0) return new Set();
  const plan = await readOnlyPlan(project, withDependencies(graph, cellNodes(graph, placed)));
  const fresh = new Set(plan.nodes.filter((n) => n.state === 'fresh').map((n) => n.id));
  return new Set(placed.filter((c) => fresh.has(compileOf(c).id)).map((c) => c.id));
}
