// What publish put on the hub, by content: for a repository and the digests of its files, the
// commit that holds them. A later publish of the same content keeps that pin (once the hub confirms
// it), and `status` can say where a release is published. Memory, not truth: the hub is asked.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { writeFileAtomic } from './atomic.js';
import { sha256 } from './hash.js';

export interface PublishedRecord {
  endpoint: string;
  /** "ORG/NAME". */
  repo: string;
  commit: string;
  /** Path in the repository → sha256. */
  files: Record<string, string>;
  publishedAt: string;
}

function recordPath(storeRoot: string, endpoint: string, repo: string, files: Record<string, string>): string {
  const key = sha256(canonicalJson({ endpoint, repo, files }));
  return join(storeRoot, 'published', key.slice(0, 2), `${key}.json`);
}

export async function readPublished(storeRoot: string, endpoint: string, repo: string, files: Record<string, string>): Promise<PublishedRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(storeRoot, endpoint, repo, files), 'utf8')) as Partial<PublishedRecord> | null;
    return typeof record?.commit === 'string' && record.repo === repo
      ? { endpoint, repo, files, commit: record.commit, publishedAt: record.publishedAt ?? '' }
      : undefined;
  } catch {
    return undefined;
  }
}

export async function writePublished(storeRoot: string, record: PublishedRecord): Promise<void> {
  await writeFileAtomic(recordPath(storeRoot, record.endpoint, record.repo, record.files), `${JSON.stringify(record, null, 2)}\n`);
}
