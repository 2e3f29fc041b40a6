// `mlc-build publish`: build and write the release as `release` does, then put it on the Hugging
// Face hub — one repository per weights folder, one for the libraries and configs — sending only
// what differs, with the configs' URLs pinned to commits. Flags over the manifest's publish.hub.
import type { Command } from 'commander';
import { formatBytes } from '../../manifest/units.js';
import { DEFAULT_LOW_RESOURCE_MB } from '../../release/figures.js';
import { destinationOf } from '../../publish/layout.js';
import {
  EXIT,
  lockProject,
  publishRelease,
  releaseCells,
  releaseFolder,
  writableFolderProblem,
  type GlobalOptions,
  type PublishResult,
  type RepoReport,
} from '../../app/index.js';
import { COMMANDS, load } from '../context.js';
import { packageVersion } from '../version.js';

interface PublishFlags {
  out?: string;
  org?: string;
  libsRepo?: string;
  private?: boolean;
  dryRun?: boolean;
  keepExtra?: boolean;
  json?: boolean;
  jobs?: string;
  keepGoing?: boolean;
  verify?: boolean;
  update?: boolean;
  wait: boolean;
}

export function registerPublish(program: Command, setExit: (code: number) => void): void {
  program
    .command('publish')
    .description(
      'make the release of the selected cells (as release does), then publish it on the Hugging Face hub: a model repository per weights folder, a libs repository for the libraries and configs; only what changed is sent, and the configs name pinned commits',
    )
    .argument('[selectors...]', 'model=, quant=, target= or compile node ids (default: every cell)')
    .option('-o, --out <dir>', 'the release folder (default: release/ beside the manifest)')
    .option('--org <name>', 'the hub organisation or user to publish under (over publish.hub.org)')
    .option('--libs-repo <name>', 'the libraries repository: a name under the organisation, or ORG/NAME (over publish.hub.libs_repo)')
    .option('--private', 'create missing repositories as private (over publish.hub.private)')
    .option('--dry-run', 'say per repository what would be created, uploaded and deleted; change nothing on the hub')
    .option('--keep-extra', 'leave files in the repositories that the release does not have (default: delete them, never .gitattributes)')
    .option('--json', 'print per repository its URL, commit, files and bytes uploaded, and files skipped, as JSON')
    .option('-j, --jobs <n>', 'run at most N steps at once')
    .option('-k, --keep-going', 'after a failure, still build everything that does not depend on it')
    .option('--verify', 're-hash every input, output and stored blob instead of trusting the stat cache')
    .option('--update', 're-resolve hub revisions instead of using the commits pinned in mlc.build.lock')
    .option('--no-wait', 'fail at once if another build of this project is running')
    .action(async (selectors: string[], flags: PublishFlags) => {
      setExit(await publish(program.opts<GlobalOptions>(), selectors, flags));
    });
}

function usage(message: string): number {
  process.stderr.write(`mlc-build: publish: ${message}\n`);
  return EXIT.usage;
}

async function publish(global: GlobalOptions, selectors: string[], flags: PublishFlags): Promise<number> {
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) return usage(`--jobs must be a positive integer, got ${flags.jobs ?? ''}`);
  const project = await load(global);
  if (!project) return EXIT.usage;
  const { manifest } = project;
  const destination = destinationOf(manifest.publish.hub, { org: flags.org, libsRepo: flags.libsRepo, ...(flags.private ? { private: true } : {}) });
  if (!destination.ok) return usage(destination.error);
  const cells = releaseCells(project, selectors, COMMANDS);
  if (!cells.ok) return usage(cells.error);
  const out = releaseFolder(project, flags.out);
  if (!out.ok) return usage(out.error);
  const unwritable = writableFolderProblem(manifest.out);
  if (unwritable) return usage(`cannot write to the output folder ${manifest.out}: ${unwritable}`);
  const locked = await lockProject(manifest, flags.wait);
  if (!locked.ok) return locked.error;
  try {
    const result = await publishRelease(project, {
      release: {
        cells: cells.value,
        out: out.value,
        global,
        jobs,
        keepGoing: flags.keepGoing === true,
        allowPartial: false,
        verify: flags.verify === true,
        update: flags.update === true,
        assembly: { lowResourceMB: DEFAULT_LOW_RESOURCE_MB, generator: `mlc-build ${packageVersion()}` },
      },
      destination: destination.value,
      dryRun: flags.dryRun === true,
      keepExtra: flags.keepExtra === true,
      env: process.env,
    });
    return report(result, cells.value.length, flags.json === true);
  } finally {
    await locked.value.release();
  }
}

function report(result: PublishResult, wanted: number, json: boolean): number {
  if ('incomplete' in result) {
    const lines = result.incomplete.map((m) => `  ${m.cell}: ${m.reason}\n`).join('');
    process.stderr.write(`mlc-build: publish: ${result.incomplete.length} of ${wanted} cells have no library; nothing published:\n${lines}`);
    return EXIT.stepFailed;
  }
  if (json) process.stdout.write(`${JSON.stringify({ dry_run: 'dryRun' in result && result.dryRun, repos: result.published.map(jsonOf) }, null, 2)}\n`);
  else for (const r of result.published) process.stdout.write(`${line(r)}\n`);
  if ('failed' in result) {
    process.stderr.write(result.failed.map((e) => `mlc-build: publish: ${e}\n`).join(''));
    return result.exit;
  }
  return EXIT.ok;
}

function line(r: RepoReport): string {
  const sent = `${r.uploaded.files} file${r.uploaded.files === 1 ? '' : 's'} (${formatBytes(r.uploaded.bytes)})`;
  const deleted = r.deleted.length > 0 ? `, ${r.deleted.length} deleted` : '';
  const skipped = r.skipped > 0 ? `, ${r.skipped} already there` : '';
  const at = (sha: string | undefined) => (sha === undefined ? '' : ` ${sha.slice(0, 12)}`);
  const pinned = r.pinned !== undefined && r.pinned !== r.commit ? `; pinned at${at(r.pinned)}` : '';
  switch (r.status) {
    case 'up-to-date':
      return `${r.repo}: up to date at${at(r.commit)}${pinned}`;
    case 'created':
      return `${r.repo}: created; committed${at(r.commit)}: ${sent} uploaded${skipped}`;
    case 'committed':
      return `${r.repo}: committed${at(r.commit)}: ${sent} uploaded${deleted}${skipped}`;
    case 'would-create':
      return `${r.repo}: would be created with ${sent}`;
    case 'would-commit':
      return `${r.repo}: would commit ${sent}${deleted}${skipped}${r.deleted.length > 0 ? ` (deleting ${r.deleted.join(', ')})` : ''}`;
  }
}

function jsonOf(r: RepoReport) {
  return {
    repo: r.repo,
    role: r.role,
    url: r.url,
    status: r.status,
    commit: r.commit ?? null,
    pinned: r.pinned ?? null,
    uploaded: r.uploaded,
    skipped: r.skipped,
    deleted: r.deleted,
  };
}
