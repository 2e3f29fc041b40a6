// `mlc-build release`: build what the selection lacks, then write a folder to publish as it is.
// Cells that failed or that this host cannot build make it exit 1 and write nothing, unless
// --allow-partial (then release.json lists them under `missing`).
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { NodeResult } from '../../exec/build.js';
import { cellNodes, cellsMatching, parseSelectors, withDependencies } from '../../graph/select.js';
import type { Cell } from '../../manifest/types.js';
import { formatBytes } from '../../manifest/units.js';
import { assemble, APP_CONFIG, PACKAGE_CONFIG } from '../../release/assemble.js';
import { byText, collect } from '../../release/collect.js';
import { DEFAULT_LOW_RESOURCE_MB } from '../../release/figures.js';
import { toolchainFacts } from '../../release/inventory.js';
import { replaceProblem, writeRelease } from '../../release/write.js';
import { readLock } from '../../lockfile/lock-file.js';
import {
  allHostsRequested,
  buildSelected,
  EXIT,
  foreignKeys,
  hostView,
  lockProject,
  manifestDigest,
  openContext,
  type GlobalOptions,
  writableFolderProblem,
} from '../../app/index.js';
import { COMMANDS, load } from '../context.js';
import { packageVersion } from '../version.js';

interface ReleaseFlags {
  out?: string;
  baseUrl?: string;
  libUrl?: string;
  allowPartial?: boolean;
  lowResourceMb: string;
  jobs?: string;
  keepGoing?: boolean;
  verify?: boolean;
  update?: boolean;
  wait: boolean;
}

export function registerRelease(program: Command, setExit: (code: number) => void): void {
  program
    .command('release')
    .description(
      'build the selected cells if needed, then write a folder to publish: libraries, weights, SHA256SUMS, release.json, web-llm and mlc_llm package configs',
    )
    .argument('[selectors...]', 'model=, quant=, target= or compile node ids (default: every cell)')
    .option('-o, --out <dir>', 'the release folder (default: release/ beside the manifest); an earlier release there is replaced')
    .option('--base-url <url>', 'where the weights folders are published, e.g. https://huggingface.co/ORG (default: paths inside the release)')
    .option('--lib-url <url>', 'where the libraries are published (default: libs/ inside the release)')
    .option('--allow-partial', 'write what was built even when some cells failed or cannot be built here; release.json lists the rest')
    .option('--low-resource-mb <n>', 'web-llm low_resource_required: at most this many MB of GPU memory', String(DEFAULT_LOW_RESOURCE_MB))
    .option('-j, --jobs <n>', 'run at most N steps at once')
    .option('-k, --keep-going', 'after a failure, still build everything that does not depend on it')
    .option('--verify', 're-hash every input, output and stored blob instead of trusting the stat cache')
    .option('--update', 're-resolve hub revisions instead of using the commits pinned in mlc.build.lock')
    .option('--no-wait', 'fail at once if another build of this project is running')
    .action(async (selectors: string[], flags: ReleaseFlags) => {
      const usage = (message: string) => {
        process.stderr.write(`mlc-build: release: ${message}\n`);
        setExit(EXIT.usage);
      };
      const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) return usage(`--jobs must be a positive integer, got ${flags.jobs}`);
      const lowResourceMB = Number(flags.lowResourceMb);
      if (!Number.isFinite(lowResourceMB) || lowResourceMB <= 0) return usage(`--low-resource-mb must be a positive number, got ${flags.lowResourceMb}`);
      for (const [flag, url] of [
        ['--base-url', flags.baseUrl],
        ['--lib-url', flags.libUrl],
      ] as const) {
        if (url !== undefined && !/^(https?|hf):\/\/\S+$/i.test(url)) return usage(`${flag} must be an http(s):// or HF:// URL, got ${JSON.stringify(url)}`);
      }
      const global = program.opts<GlobalOptions>();
      const project = await load(global);
      if (!project) return setExit(EXIT.usage);
      const { manifest, graph } = project;

      const sel = parseSelectors(selectors, graph, manifest, COMMANDS);
      if (!sel.ok) return usage(sel.error);
      if (sel.value.steps) return usage('a release is made of cells: select them with model=, quant=, target= or compile node ids, not step=');
      const byCompile = new Map(manifest.cells.map((c) => [graph.cells.get(c.id)?.compile, c]));
      const named: Cell[] = [];
      for (const id of sel.value.ids) {
        const cell = byCompile.get(id);
        if (!cell) return usage(`${id} is not a compile node: a release is made of cells (compile:MODEL/QUANT/TARGET)`);
        named.push(cell);
      }
      const dims = sel.value.dims;
      const byDims = Object.keys(dims).length > 0 || named.length === 0 ? cellsMatching(manifest, dims) : [];
      const wanted = [...new Set([...byDims, ...named])];
      if (wanted.length === 0) return usage('the selectors match no cell of the matrix');

      const out = flags.out === undefined ? join(manifest.root, 'release') : resolve(flags.out);
      const inside = (dir: string, root: string) => {
        const rel = relative(root, dir);
        return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
      };
      if (inside(out, manifest.out) || inside(manifest.out, out) || inside(out, manifest.cache) || inside(manifest.cache, out) || inside(manifest.root, out))
        return usage(`--out ${flags.out ?? out} overlaps the project, out/ or the store; choose a folder of its own`);
      const replace = replaceProblem(out);
      if (replace) return usage(replace);

      const host = await hostView(project, allHostsRequested(global.allHosts, process.env), process.env);
      // Another host's libraries come from the cache, keyed as that host keys them, or are missing.
      const foreign = await foreignKeys(project, host);
      const restoreOnly = new Map<string, string>();
      const missing: { cell: string; reason: string }[] = [];
      const buildable = wanted.filter((c) => {
        const m = host.missing.get(c.target);
        if (m === undefined) return true;
        const fk = foreign.get(c.target);
        const why = `cannot be built on this host: ${c.target} needs ${m}`;
        if (!fk?.ok) {
          missing.push({ cell: c.id, reason: `${why} (and ${fk?.reason ?? 'its key is unknown here'})` });
          return false;
        }
        restoreOnly.set(graph.cells.get(c.id)?.compile ?? '', `${why}, and no cache has it from such a host`);
        return true;
      });
      const selected = withDependencies(graph, cellNodes(graph, buildable));

      const unwritable = writableFolderProblem(manifest.out);
      if (unwritable) return usage(`cannot write to the output folder ${manifest.out}: ${unwritable}`);
      const locked = await lockProject(manifest, flags.wait);
      if (!locked.ok) return setExit(locked.error);
      try {
        let results: ReadonlyMap<string, NodeResult> = new Map();
        if (selected.size > 0) {
          const built = await buildSelected(
            project,
            selected,
            { keepGoing: flags.keepGoing || flags.allowPartial, verify: flags.verify, update: flags.update },
            global,
            { jobs, hostFolders: host.folders, force: undefined, foreign: { keys: foreign, restoreOnly } },
          );
          if (built.exit === EXIT.interrupted || built.exit === EXIT.internal) return setExit(built.exit);
          results = built.outcome.results;
        }
        const ctx = await openContext(project, { readOnly: true, verify: flags.verify });
        try {
          const collected = await collect(ctx, buildable, results);
          collected.missing.push(...missing);
          collected.missing.sort((a, b) => byText(a.cell, b.cell));
          if (collected.missing.length > 0 && !flags.allowPartial) {
            process.stderr.write(
              `mlc-build: release: ${collected.missing.length} of ${wanted.length} cells have no library; nothing written (--allow-partial writes the rest):\n${collected.missing
                .map((m) => `  ${m.cell}: ${m.reason}\n`)
                .join('')}`,
            );
            return setExit(EXIT.stepFailed);
          }
          const fp = await ctx.fingerprint();
          const assembled = assemble(ctx, collected, {
            baseUrl: flags.baseUrl,
            libUrl: flags.libUrl,
            lowResourceMB,
            generator: `mlc-build ${packageVersion()}`,
            manifestFile: ctx.display(manifest.file),
            manifestDigest: manifestDigest(manifest.source.text),
            toolchain: fp.ok ? toolchainFacts(fp.value) : { fingerprint: '', packages: {} },
            lock: await readLock(manifest.root),
            env: process.env,
          });
          if (!assembled.ok) {
            process.stderr.write(assembled.error.map((e) => `mlc-build: release: ${e}\n`).join(''));
            return setExit(EXIT.stepFailed);
          }
          const written = await writeRelease(out, assembled.value.contents);
          if (!written.ok) {
            process.stderr.write(`mlc-build: release: ${written.error}\n`);
            return setExit(EXIT.stepFailed);
          }
          const a = assembled.value;
          const configs = a.contents.written.filter((w) => w.path === APP_CONFIG || w.path.endsWith(`/${PACKAGE_CONFIG}`)).map((w) => w.path);
          process.stdout.write(
            `${relative(process.cwd(), out) || '.'}/: ${a.libraries} librar${a.libraries === 1 ? 'y' : 'ies'}, ${a.weights} weights folder${a.weights === 1 ? '' : 's'}, ${a.files} files, ${formatBytes(a.bytes)}${configs.length > 0 ? `; ${configs.join(', ')}` : ''}${collected.missing.length > 0 ? `; ${collected.missing.length} cells missing (release.json lists them)` : ''}\n`,
          );
          for (const m of collected.missing) process.stderr.write(`mlc-build: release: missing ${m.cell}: ${m.reason}\n`);
        } finally {
          await ctx.store.close();
        }
      } finally {
        await locked.value.release();
      }
    });
}
