// A repository's tree at its head against the local files: LFS files by their sha256, others by
// their git blob id. What differs is all a commit sends; an equal tree sends nothing at all.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { err, ok, type Result } from '../result.js';
import { describeHubError } from './access.js';
import type { Hub } from './hub.js';
import type { LocalFile } from './layout.js';

export interface RemoteFile {
  path: string;
  size: number;
  /** The git blob id. */
  oid: string;
  /** An LFS file's sha256. */
  lfs?: string;
}

export type RepoState = { exists: false } | { exists: true; head: string; files: RemoteFile[] };

/** The head of `main` and the files there; a repository that does not exist says so. */
export async function readRepo(hub: Hub, repo: string): Promise<Result<RepoState, string>> {
  const fetch = hub.fetchFor();
  let head: string;
  try {
    head = (await modelInfo({ name: repo, revision: 'main', hubUrl: hub.endpoint, fetch, additionalFields: ['sha'] })).sha;
  } catch (e) {
    if (e instanceof HubApiError && e.statusCode === 404) return ok({ exists: false });
    return err(describeHubError(e, hub, `reading ${repo}`, repo));
  }
  const files: RemoteFile[] = [];
  try {
    for await (const entry of listFiles({ repo: { type: 'model', name: repo }, revision: head, recursive: true, hubUrl: hub.endpoint, fetch })) {
      if (entry.type !== 'file') continue;
      files.push({ path: entry.path, size: entry.lfs?.size ?? entry.size, oid: entry.oid ?? '', ...(entry.lfs ? { lfs: entry.lfs.oid } : {}) });
    }
  } catch (e) {
    return err(describeHubError(e, hub, `listing ${repo} at ${head.slice(0, 12)}`, repo));
  }
  return ok({ exists: true, head, files });
}

export const GIT_ATTRIBUTES = '.gitattributes';

export interface Changes {
  /** Added or changed. */
  upload: LocalFile[];
  /** In the repository, not in the release. */
  delete: string[];
  unchanged: number;
}

export const noChanges = (c: Changes): boolean => c.upload.length === 0 && c.delete.length === 0;

/**
 * What a commit must send for the repository to hold `local`: files it lacks or holds otherwise,
 * and (unless `keep` says so) files it holds that the release does not — never .gitattributes,
 * which the hub writes itself.
 */
export async function changes(local: readonly LocalFile[], remote: readonly RemoteFile[], keep: (path: string) => boolean): Promise<Changes> {
  const there = new Map(remote.map((f) => [f.path, f]));
  const upload: LocalFile[] = [];
  let unchanged = 0;
  for (const file of local) {
    const have = there.get(file.path);
    if (have && (await holds(have, file))) unchanged++;
    else upload.push(file);
  }
  const wanted = new Set(local.map((f) => f.path));
  const extra = remote.map((f) => f.path).filter((p) => !wanted.has(p) && p !== GIT_ATTRIBUTES && !keep(p));
  return { upload, delete: extra.sort(), unchanged };
}

/** True if the repository's file has the local file's bytes. */
export async function holds(remote: RemoteFile, local: LocalFile): Promise<boolean> {
  if (remote.size !== local.size) return false;
  if (remote.lfs !== undefined) return remote.lfs === local.sha256;
  return remote.oid === gitBlobId(await bytesOf(local));
}

export async function bytesOf(file: LocalFile): Promise<Buffer> {
  return 'data' in file.source ? Buffer.from(file.source.data) : readFile(file.source.file);
}

const gitBlobId = (content: Buffer) => createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
