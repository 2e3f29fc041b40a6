// `mlc-build release`: build what the selection lacks, then write a folder to publish as it is.
// Cells that failed or that this host cannot build make it exit 1 and write nothing, unless
// --allow-partial (then release.json lists them under `missing`).
import { relative } from 'node:path';
import type { Command } from 'commander';
import { formatBytes } from '../../manifest/units.js';
import { APP_CONFIG, PACKAGE_CONFIG } from '../../release/assemble.js';
import { DEFAULT_LOW_RESOURCE_MB } from '../../release/figures.js';
import { err, ok, type Result } from '../../result.js';
import { EXIT, lockProject, makeRelease, releaseCells, releaseFolder, writableFolderProblem, type GlobalOptions, type ReleaseResult } from '../../app/index.js';
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
      setExit(await release(program.opts<GlobalOptions>(), selectors, flags));
    });
}

function usage(message: string): number {
  process.stderr.write(`mlc-build: release: ${message}\n`);
  return EXIT.usage;
}

async function release(global: GlobalOptions, selectors: string[], flags: ReleaseFlags): Promise<number> {
  const checked = checkFlags(flags);
  if (!checked.ok) return usage(checked.error);
  const project = await load(global);
  if (!project) return EXIT.usage;
  const cells = releaseCells(project, selectors, COMMANDS);
  if (!cells.ok) return usage(cells.error);
  const out = releaseFolder(project, flags.out);
  if (!out.ok) return usage(out.error);
  const { manifest } = project;
  const unwritable = writableFolderProblem(manifest.out);
  if (unwritable) return usage(`cannot write to the output folder ${manifest.out}: ${unwritable}`);
  const locked = await lockProject(manifest, flags.wait);
  if (!locked.ok) return locked.error;
  try {
    const made = await makeRelease(project, {
      cells: cells.value,
      out: out.value,
      global,
      jobs: checked.value.jobs,
      keepGoing: flags.keepGoing === true,
      allowPartial: flags.allowPartial === true,
      verify: flags.verify === true,
      update: flags.update === true,
      assembly: { baseUrl: flags.baseUrl, libUrl: flags.libUrl, lowResourceMB: checked.value.lowResourceMB, generator: `mlc-build ${packageVersion()}` },
    });
    return report(made, out.value, cells.value.length);
  } finally {
    await locked.value.release();
  }
}

function checkFlags(flags: ReleaseFlags): Result<{ jobs: number | undefined; lowResourceMB: number }, string> {
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) return err(`--jobs must be a positive integer, got ${flags.jobs ?? ''}`);
  const lowResourceMB = Number(flags.lowResourceMb);
  if (!Number.isFinite(lowResourceMB) || lowResourceMB <= 0) return err(`--low-resource-mb must be a positive number, got ${flags.lowResourceMb}`);
  for (const [flag, url] of [
    ['--base-url', flags.baseUrl],
    ['--lib-url', flags.libUrl],
  ] as const) {
    if (url !== undefined && !/^(https?|hf):\/\/\S+$/i.test(url)) return err(`${flag} must be an http(s):// or HF:// URL, got ${JSON.stringify(url)}`);
  }
  return ok({ jobs, lowResourceMB });
}

function report(made: ReleaseResult, out: string, wanted: number): number {
  if ('failed' in made) {
    process.stderr.write(made.failed.map((e) => `mlc-build: release: ${e}\n`).join(''));
    return made.exit;
  }
  if ('incomplete' in made) {
    const lines = made.incomplete.map((m) => `  ${m.cell}: ${m.reason}\n`).join('');
    process.stderr.write(
      `mlc-build: release: ${made.incomplete.length} of ${wanted} cells have no library; nothing written (--allow-partial writes the rest):\n${lines}`,
    );
    return EXIT.stepFailed;
  }
  const a = made.written;
  const configs = a.contents.written.filter((w) => w.path === APP_CONFIG || w.path.endsWith(`/${PACKAGE_CONFIG}`)).map((w) => w.path);
  const parts = [
    `${a.libraries} librar${a.libraries === 1 ? 'y' : 'ies'}`,
    `${a.weights} weights folder${a.weights === 1 ? '' : 's'}`,
    `${a.files} files`,
    formatBytes(a.bytes),
  ];
  const tail = `${configs.length > 0 ? `; ${configs.join(', ')}` : ''}${made.missing.length > 0 ? `; ${made.missing.length} cells missing (release.json lists them)` : ''}`;
  process.stdout.write(`${relative(process.cwd(), out) || '.'}/: ${parts.join(', ')}${tail}\n`);
  for (const m of made.missing) process.stderr.write(`mlc-build: release: missing ${m.cell}: ${m.reason}\n`);
  return EXIT.ok;
}
