// Where a release goes on the hub: each weights folder in its own model repository
// (ORG/<weights folder>, MLC's convention), the libraries in one libs repository laid out as MLC's
// binary-mlc-llm-libs (<model>/<library>, wasm under web-llm/), and the configs beside them.
import { basename, join } from 'node:path';
import type { PublishHubSettings } from '../manifest/types.js';
import { APP_CONFIG, PACKAGE_CONFIG, SUMS, type Assembled } from '../release/assemble.js';
import type { Collected, LibraryEntry } from '../release/collect.js';
import { isWebGpu } from '../release/web-llm.js';
import { INVENTORY } from '../release/write.js';
import { err, ok, type Result } from '../result.js';
import { sha256 } from '../store/hash.js';

export interface Destination {
  org: string;
  /** "ORG/NAME". */
  libsRepo: string;
  /** A template: {weights}, {model}, {quant}, {variant}. */
  weightsRepo: string;
  private: boolean;
}

export interface DestinationFlags {
  org?: string;
  libsRepo?: string;
  private?: boolean;
}

const NAME = /^[A-Za-z0-9][\w.-]*$/;
/** The hub's longest repository name. */
const MAX_NAME = 96;
export const DEFAULT_LIBS_REPO = 'mlc-llm-libs';

/** Where to publish: the manifest's publish.hub, flags over it; or what is missing or malformed. */
export function destinationOf(settings: PublishHubSettings, flags: DestinationFlags): Result<Destination, string> {
  const org = flags.org ?? settings.org;
  if (org === undefined) return err('no hub organisation to publish to: set publish.hub.org in the manifest, or pass --org');
  if (!NAME.test(org)) return err(`--org ${JSON.stringify(org)} is not a hub organisation or user name`);
  const libs = flags.libsRepo ?? settings.libsRepo ?? DEFAULT_LIBS_REPO;
  const libsRepo = libs.includes('/') ? libs : `${org}/${libs}`;
  const [owner = '', name = '', ...rest] = libsRepo.split('/');
  if (rest.length > 0 || !NAME.test(owner) || !NAME.test(name) || name.length > MAX_NAME) {
    return err(`--libs-repo ${JSON.stringify(libs)} is not a repository name under the organisation, or ORG/NAME`);
  }
  return ok({ org, libsRepo, weightsRepo: settings.weightsRepo ?? '{weights}', private: flags.private ?? settings.private ?? false });
}

/** A file to publish: its path in the repository, its digest, and where its bytes are. */
export interface LocalFile {
  path: string;
  size: number;
  sha256: string;
  source: { file: string } | { data: string };
}

export type RepoRole = 'weights' | 'libraries' | 'configs';

export interface RepoContent {
  repo: string;
  role: RepoRole;
  files: LocalFile[];
  /** A weights repository's folder in the release. */
  folder?: string;
}

/** A library's path in the libs repository. */
export function libraryRepoPath(lib: LibraryEntry): string {
  const name = basename(lib.file.path);
  return isWebGpu(lib) ? `web-llm/${name}` : `${lib.cell.model}/${name}`;
}

/** One model repository per weights folder, its files read from the release folder `out`. */
export function weightsRepos(dest: Destination, collected: Collected, release: Assembled, out: string): Result<RepoContent[], string> {
  const repos: RepoContent[] = [];
  const all = [
    ...release.contents.placed.map((f) => ({ path: f.path, size: f.size, sha256: f.digest })),
    ...release.contents.written.map((w) => ({ path: w.path, size: Buffer.byteLength(w.data), sha256: sha256(w.data) })),
  ];
  for (const w of collected.weights) {
    const name = dest.weightsRepo.replace(/\{(weights|model|quant|variant)\}/g, (_, k: string) =>
      k === 'weights' ? w.folder : k === 'model' ? w.model : k === 'quant' ? w.quant : w.variant,
    );
    if (!NAME.test(name) || name.length > MAX_NAME) return err(`publish.hub.weights_repo makes ${JSON.stringify(name)} of ${w.folder}: not a repository name`);
    const prefix = `${w.folder}/`;
    const files = all
      .filter((f) => f.path.startsWith(prefix))
      .map((f) => ({ path: f.path.slice(prefix.length), size: f.size, sha256: f.sha256, source: { file: join(out, f.path) } }));
    repos.push({ repo: `${dest.org}/${name}`, role: 'weights', files, folder: w.folder });
  }
  const names = repos.map((r) => r.repo);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) return err(`publish.hub.weights_repo gives two weights folders the same repository ${twice}; add {weights} or {variant}`);
  return ok(repos);
}

/** The libraries, at their libs-repository paths, read from the release folder `out`. */
export function librariesRepo(dest: Destination, collected: Collected, out: string): RepoContent {
  const files = collected.libraries.map((lib) => ({
    path: libraryRepoPath(lib),
    size: lib.file.size,
    sha256: lib.file.digest,
    source: { file: join(out, lib.file.path) },
  }));
  return { repo: dest.libsRepo, role: 'libraries', files };
}

/** The files of the release that describe it: web-llm's and the package configs, release.json, SHA256SUMS. */
export const isConfigPath = (path: string): boolean => path === APP_CONFIG || path === INVENTORY || path === SUMS || path.endsWith(`/${PACKAGE_CONFIG}`);

/** The configs of a (pinned) release, committed to the libs repository after its libraries. */
export function configsRepo(dest: Destination, release: Assembled): RepoContent {
  const files = release.contents.written
    .filter((w) => isConfigPath(w.path))
    .map((w) => ({ path: w.path, size: Buffer.byteLength(w.data), sha256: sha256(w.data), source: { data: w.data } }));
  return { repo: dest.libsRepo, role: 'configs', files };
}

/** `<endpoint>/ORG/NAME/resolve/<commit>/<path>`: a URL that always means these bytes. */
export const pinnedUrl = (endpoint: string, repo: string, commit: string, path = ''): string => `${endpoint}/${repo}/resolve/${commit}/${path}`;
