// A publish of a selection: the release made and written exactly as `release` makes it, then each
// weights folder committed to its own model repository and the libraries to the libs repository
// (only what differs from each repository's tree; nothing when nothing does), then the configs
// rewritten with URLs pinned to those commits, committed to the libs repository and written into
// the release folder too. Each repository's commit is recorded in the store by content.
import { createRepo, HubApiError } from '@huggingface/hub';
import { describeHubError, checkWriteAccess } from '../publish/access.js';
import { changes, noChanges, readRepo, type RepoState } from '../publish/compare.js';
import { commitChanges } from '../publish/commit.js';
import { connectHub, LIBRARY_CREDENTIALS, type Hub } from '../publish/hub.js';
import {
  configsRepo,
  isConfigPath,
  librariesRepo,
  libraryRepoPath,
  pinnedUrl,
  weightsRepos,
  type Destination,
  type RepoContent,
  type RepoRole,
} from '../publish/layout.js';
import { pinFor, publishedPins } from '../publish/pins.js';
import { probeCommit } from '../publish/probe.js';
import type { Assembled } from '../release/assemble.js';
import type { PublishedFacts } from '../release/inventory.js';
import type { Urls } from '../release/web-llm.js';
import { writeRelease } from '../release/write.js';
import { err, ok, type Result } from '../result.js';
import { hubEndpoint, hubTokenFound } from '../sources/hf.js';
import { readPublished, writePublished } from '../store/published.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { Project } from './project.js';
import { withRelease, type MissingCell, type OpenRelease, type ReleaseRequest } from './release.js';

export interface PublishRequest {
  release: ReleaseRequest;
  destination: Destination;
  dryRun: boolean;
  /** Leave files the release does not have in the repositories. */
  keepExtra: boolean;
  env: NodeJS.ProcessEnv;
}

export type RepoStatus = 'created' | 'committed' | 'up-to-date' | 'would-create' | 'would-commit';

export interface RepoReport {
  repo: string;
  role: RepoRole;
  url: string;
  status: RepoStatus;
  /** The commit made, else the head the repository was found at (none for one to be created). */
  commit?: string;
  /** The commit the configs' URLs name (weights and libraries). */
  pinned?: string;
  uploaded: { files: number; bytes: number };
  /** Files the repository had already: unchanged, or LFS objects the server held. */
  skipped: number;
  deleted: string[];
}

export type PublishResult =
  { published: RepoReport[]; dryRun: boolean } | { incomplete: MissingCell[] } | { failed: string[]; exit: ExitCode; published: RepoReport[] };

/** Makes the release (the caller holds the project lock) and publishes it. */
export async function publishRelease(project: Project, req: PublishRequest): Promise<PublishResult> {
  const made = await withRelease(project, req.release, async (release): Promise<PublishResult> => {
    const local = release.assemble(req.release.assembly);
    if (!local.ok) return fail(local.error);
    const written = await writeRelease(req.release.out, local.value.contents);
    if (!written.ok) return fail([written.error]);
    const hub = connectHub(hubEndpoint(req.env), await hubTokenFound(req.env, req.release.global.tokenFile));
    const access = await checkWriteAccess(hub, req.destination.org);
    if (!access.ok) return fail([access.error]);
    const publisher = new Publisher(hub, req, project.manifest.cache);
    return publisher.run(release, local.value);
  });
  return 'failed' in made && !('published' in made) ? fail(made.failed, [], made.exit) : made;
}

/** A dry run has no commit yet for a repository it would create: its URLs name this instead. */
const NEW_COMMIT = 'NEW-COMMIT';

const fail = (failed: string[], published: RepoReport[] = [], exit: ExitCode = EXIT.stepFailed): PublishResult => ({ failed, exit, published });

/** The commit a repository ended at, besides what the user reads of it. */
interface Published {
  report: RepoReport;
  /** Undefined only in a dry run, for a repository that would be created. */
  head: string | undefined;
  state: RepoState;
}

class Publisher {
  private readonly reports: RepoReport[] = [];

  constructor(
    private readonly hub: Hub,
    private readonly req: PublishRequest,
    private readonly storeRoot: string,
  ) {}

  async run(release: OpenRelease, local: Assembled): Promise<PublishResult> {
    const { destination: dest, release: rel } = this.req;
    const weights = weightsRepos(dest, release.collected, local, rel.out);
    if (!weights.ok) return fail([weights.error], [], EXIT.usage);
    const libraries = librariesRepo(dest, release.collected, rel.out);
    const configPaths = new Set(local.contents.written.map((w) => w.path).filter(isConfigPath));
    const libsBefore = await readRepo(this.hub, dest.libsRepo);
    if (!libsBefore.ok) return fail([libsBefore.error]);
    const hubPins = libsBefore.value.exists ? await publishedPins(this.hub, dest.libsRepo, libsBefore.value.head) : {};

    const pins = new Map<string, string>();
    const contents = [...weights.value, ...(libraries.files.length > 0 ? [libraries] : [])];
    for (const content of contents) {
      const keep = this.req.keepExtra ? () => true : content.role === 'libraries' ? (p: string) => configPaths.has(p) : () => false;
      const done = await this.publish(content, keep);
      if (!done.ok) return fail([done.error], this.reports);
      const pin = await this.pinOf(content, done.value, hubPins);
      done.value.report.pinned = pin;
      pins.set(content.repo, pin);
    }

    const published: PublishedFacts = { endpoint: this.hub.endpoint, repos: Object.fromEntries([...pins].sort(([a], [b]) => (a < b ? -1 : 1))) };
    const urls = this.pinnedUrls(pins, new Map(weights.value.map((w) => [w.folder ?? '', w.repo])));
    const forRepo = release.assemble(urls, { libraryPath: libraryRepoPath, published });
    if (!forRepo.ok) return fail(forRepo.error, this.reports);
    const configs = await this.publish(configsRepo(dest, forRepo.value), () => true);
    if (!configs.ok) return fail([configs.error], this.reports);
    if (this.req.dryRun) return { published: this.reports, dryRun: true };

    const forFolder = release.assemble(urls, { published });
    if (!forFolder.ok) return fail(forFolder.error, this.reports);
    const rewritten = await writeRelease(rel.out, forFolder.value.contents);
    if (!rewritten.ok) return fail([rewritten.error], this.reports);
    for (const content of [...contents, configsRepo(dest, forRepo.value)]) {
      const commit = content.role === 'configs' ? configs.value.head : pins.get(content.repo);
      if (commit !== undefined) await writePublished(this.storeRoot, { ...this.recordKey(content), commit, publishedAt: new Date().toISOString() });
    }
    return { published: this.reports, dryRun: false };
  }

  /** Web-llm's model URL keeps a /resolve/<rev>/ it is given; libraries are named file by file. */
  private pinnedUrls(pins: ReadonlyMap<string, string>, repos: ReadonlyMap<string, string>): Urls {
    const { destination: dest } = this.req;
    const endpoint = this.hub.endpoint;
    const pin = (repo: string) => pins.get(repo) ?? NEW_COMMIT;
    const repoOf = (folder: string) => repos.get(folder) ?? `${dest.org}/${folder}`;
    return {
      weightsUrl: (folder) => pinnedUrl(endpoint, repoOf(folder), pin(repoOf(folder))),
      weightsRepo: repoOf,
      libraryUrl: (lib) => pinnedUrl(endpoint, dest.libsRepo, pin(dest.libsRepo), libraryRepoPath(lib)),
    };
  }

  private recordKey(content: RepoContent) {
    return { endpoint: this.hub.endpoint, repo: content.repo, files: Object.fromEntries(content.files.map((f) => [f.path, f.sha256])) };
  }

  private async pinOf(content: RepoContent, done: Published, hubPins: Record<string, string>): Promise<string> {
    if (done.head === undefined) return NEW_COMMIT;
    switch (done.report.status) {
      case 'would-commit':
      case 'would-create':
        return NEW_COMMIT;
      case 'committed':
      case 'created':
        return done.head;
      case 'up-to-date':
        break;
    }
    const key = this.recordKey(content);
    const remembered = await readPublished(this.storeRoot, key.endpoint, key.repo, key.files);
    return pinFor(this.hub, content.repo, content.files, [remembered?.commit, hubPins[content.repo]], done.head);
  }

  /** One repository: created if missing, then one commit with what differs (or, dry, what would). */
  private async publish(content: RepoContent, keep: (path: string) => boolean): Promise<Result<Published, string>> {
    const url = `${this.hub.endpoint}/${content.repo}`;
    const base = { repo: content.repo, role: content.role, url, uploaded: { files: 0, bytes: 0 }, skipped: 0, deleted: [] };
    const read = await readRepo(this.hub, content.repo);
    if (!read.ok) return read;
    let state = read.value;
    let created = false;
    if (!state.exists) {
      if (this.req.dryRun) {
        const bytes = content.files.reduce((n, f) => n + f.size, 0);
        return this.done({ ...base, status: 'would-create', uploaded: { files: content.files.length, bytes } }, undefined, state);
      }
      const made = await this.create(content.repo);
      if (!made.ok) return made;
      created = true;
      state = made.value;
    }
    if (!state.exists) return err(`${content.repo}: created, yet the hub does not show it`);
    if (this.req.dryRun) {
      const diff = await changes(content.files, state.files, keep);
      if (noChanges(diff)) return this.done({ ...base, status: 'up-to-date', commit: state.head, skipped: diff.unchanged }, state.head, state);
      const sent = await probeCommit(this.hub, content, diff, state.head);
      if (!sent.ok) return sent;
      const report: RepoReport = {
        ...base,
        status: 'would-commit',
        commit: state.head,
        uploaded: sent.value,
        skipped: diff.unchanged + sent.value.skipped,
        deleted: diff.delete,
      };
      return this.done(report, state.head, state);
    }
    const title = content.role === 'weights' ? `mlc-build publish: weights` : `mlc-build publish: ${content.role}`;
    const outcome = await commitChanges({ hub: this.hub, content, state, keep, title });
    if (!outcome.ok) return outcome;
    const o = outcome.value;
    if (o.kind === 'up-to-date') return this.done({ ...base, status: created ? 'created' : 'up-to-date', commit: o.head, skipped: o.unchanged }, o.head, state);
    const report: RepoReport = {
      ...base,
      status: created ? 'created' : 'committed',
      commit: o.commit,
      uploaded: { files: o.sent.files, bytes: o.sent.bytes },
      skipped: o.unchanged + o.sent.skipped,
      deleted: o.deleted,
    };
    return this.done(report, o.commit, state);
  }

  private done(report: RepoReport, head: string | undefined, state: RepoState): Result<Published, string> {
    this.reports.push(report);
    return ok({ report, head, state });
  }

  private async create(repo: string): Promise<Result<RepoState, string>> {
    try {
      await createRepo({
        ...LIBRARY_CREDENTIALS,
        repo: { type: 'model', name: repo },
        visibility: this.req.destination.private ? 'private' : 'public',
        hubUrl: this.hub.endpoint,
        fetch: this.hub.fetchFor(),
      });
    } catch (e) {
      // Made by someone else since it was read: publish into it as into any other.
      if (!(e instanceof HubApiError && e.statusCode === 409)) return err(describeHubError(e, this.hub, `creating ${repo}`, repo));
    }
    return readRepo(this.hub, repo);
  }
}
