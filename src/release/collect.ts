// What a release holds, found after its build: per cell the library and the weights folder that
// runs it, each file with its recorded digest and a readable copy (the store's blob, else the file
// placed in out/ when it still has that digest). A cell whose files cannot all be found is missing.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BuildContext } from '../exec/context.js';
import type { NodeResult } from '../exec/build.js';
import { nodeOfKind, type CompileNode } from '../graph/nodes.js';
import type { Cell, Target } from '../manifest/types.js';
import type { Tree } from '../store/store.js';
import { byText } from '../order.js';
import { err, ok, type Result } from '../result.js';

export interface ReleaseFile {
  /** Path inside the release folder, "/"-separated. */
  path: string;
  digest: string;
  size: number;
  /** Where its bytes can be read. */
  from: string;
}

export interface LibraryEntry {
  cell: Cell;
  target: Target;
  node: CompileNode;
  file: ReleaseFile;
  /** The weights folder (a WeightsEntry's folder) whose config this library was compiled from. */
  weights: string;
  /** Figures its compile's log reported (memory), if its record has them. */
  facts?: Record<string, number>;
}

export interface WeightsEntry {
  folder: string;
  model: string;
  quant: string;
  variant: string;
  files: ReleaseFile[];
  /** Its mlc-chat-config.json. */
  chat: Record<string, unknown>;
}

export interface Collected {
  libraries: LibraryEntry[];
  weights: WeightsEntry[];
  /** Cells of the selection without a complete result, and why. */
  missing: { cell: string; reason: string }[];
}

export const LIBS = 'libs';

export { byText } from '../order.js';

/** `results`: what the build made of each node; `cells`: the selection's cells this host could try. */
export async function collect(ctx: BuildContext, cells: readonly Cell[], results: ReadonlyMap<string, NodeResult>): Promise<Collected> {
  const libraries: LibraryEntry[] = [];
  const weights = new Map<string, WeightsEntry>();
  const missing: Collected['missing'] = [];
  for (const cell of cells) {
    const ids = ctx.graph.cells.get(cell.id);
    // Stryker disable next-line StringLiteral: the text of an internal error, which only a bug shows
    if (!ids) throw new Error(`cell ${cell.id} has no nodes`);
    const compile = nodeOfKind(ctx.graph.nodes, ids.compile, 'compile');
    const config = nodeOfKind(ctx.graph.nodes, ids.config, 'config');
    const lib = await outputsOf(ctx, results.get(ids.compile));
    const conf = await outputsOf(ctx, results.get(ids.config));
    const conv = await outputsOf(ctx, results.get(ids.convert));
    if (!lib.ok || !conf.ok || !conv.ok) {
      missing.push({ cell: cell.id, reason: firstError([lib, conf, conv]) });
      continue;
    }
    const folder = basename(config.outDir);
    const libName = basename(compile.library);
    const libFile = await readable(ctx, lib.value.tree, libName, `${LIBS}/${libName}`, compile.library);
    if (!libFile.ok) {
      missing.push({ cell: cell.id, reason: libFile.error });
      continue;
    }
    // Stryker disable next-line ConditionalExpression: a folder collected again is collected the same; the test saves the work
    if (!weights.has(folder)) {
      const files: ReleaseFile[] = [];
      const found = await Promise.all(
        // Stryker disable next-line MethodExpression: the order of a folder's files is no output's; each list of them is sorted where it is written
        Object.keys({ ...conv.value.tree, ...conf.value.tree })
          .sort()
          .map((name) => readable(ctx, name in conf.value.tree ? conf.value.tree : conv.value.tree, name, `${folder}/${name}`, join(config.outDir, name))),
      );
      if (!found.every((f) => f.ok)) {
        missing.push({ cell: cell.id, reason: firstError(found) });
        continue;
      }
      files.push(...found.map((f) => f.value));
      const chatFile = files.find((f) => f.path === `${folder}/mlc-chat-config.json`);
      if (!chatFile) {
        missing.push({ cell: cell.id, reason: `${config.id} recorded no mlc-chat-config.json` });
        continue;
      }
      const chat = JSON.parse(await readFile(chatFile.from, 'utf8')) as Record<string, unknown>;
      weights.set(folder, { folder, model: cell.model, quant: cell.quant, variant: config.variant, files, chat });
    }
    libraries.push({
      cell,
      target: ctx.target(cell.target),
      node: compile,
      file: libFile.value,
      weights: folder,
      ...(lib.value.facts ? { facts: lib.value.facts } : {}),
    });
  }
  return { libraries, weights: [...weights.values()].sort((a, b) => byText(a.folder, b.folder)), missing };
}

/** A node's recorded outputs (and facts) if the build ended with a result for it. */
async function outputsOf(ctx: BuildContext, r: NodeResult | undefined): Promise<Result<{ tree: Tree; facts?: Record<string, number> }, string>> {
  if (!r) return err('not built');
  if (r.status !== 'ran' && r.status !== 'cached' && r.status !== 'fresh') {
    return err(`${r.node} ${r.status}${r.reason ? `: ${r.reason}` : r.failure ? `: ${r.failure.message}` : ''}`);
  }
  if (r.key === undefined) return err(`${r.node} has no key`);
  const record = await ctx.store.getRecord(r.key);
  const last = ctx.state.nodes[r.node];
  const tree = record?.outputs ?? (last?.key === r.key ? last.outputs : undefined);
  if (!tree) return err(`${r.node}: its result is neither in the store nor recorded in out/`);
  return ok({ tree, ...(record?.facts ? { facts: record.facts } : {}) });
}

/** One output with a readable copy that still has its recorded digest. */
async function readable(ctx: BuildContext, tree: Tree, name: string, path: string, placed: string): Promise<Result<ReleaseFile, string>> {
  const f = tree[name];
  if (!f) return err(`no recorded output ${name}`);
  const verify = ctx.opts.verify;
  if (await ctx.store.hasBlob(f.digest, { verify })) return ok({ path, digest: f.digest, size: f.size, from: ctx.store.blobPath(f.digest) });
  const here = await ctx.store.stats.digest(placed, { verify }).catch(() => undefined);
  if (here?.digest === f.digest) return ok({ path, digest: f.digest, size: f.size, from: placed });
  return err(`${ctx.display(placed)} does not match its recorded digest ${f.digest.slice(0, 12)} and the store lacks it (build again)`);
}

/** The first error among results of which at least one failed. */
function firstError(results: readonly Result<unknown, string>[]): string {
  for (const r of results) if (!r.ok) return r.error;
  // Stryker disable next-line StringLiteral: unreachable, called only when a result failed
  return 'failed';
}
