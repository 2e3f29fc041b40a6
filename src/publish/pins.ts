// The commit a repository's URLs are pinned to. A repository this publish committed to is pinned
// to that commit. One it left as it was keeps the pin it had — the store's record of this content,
// else the commits the published release.json names (so another machine finds the same) — once the
// hub confirms that commit holds these very files; else its head, which does (it was compared).
import { downloadFile, pathsInfo } from '@huggingface/hub';
import type { PublishedFacts } from '../release/inventory.js';
import { INVENTORY } from '../release/write.js';
import { holds } from './compare.js';
import type { Hub } from './hub.js';
import type { LocalFile } from './layout.js';

export async function pinFor(hub: Hub, repo: string, files: readonly LocalFile[], candidates: readonly (string | undefined)[], head: string): Promise<string> {
  for (const commit of new Set(candidates)) {
    if (commit === undefined || commit === head) continue;
    if (await holdsAt(hub, repo, commit, files)) return commit;
  }
  return head;
}

/** True if the repository at `commit` has every one of `files`, byte for byte. */
async function holdsAt(hub: Hub, repo: string, commit: string, files: readonly LocalFile[]): Promise<boolean> {
  try {
    const infos = await pathsInfo({
      repo: { type: 'model', name: repo },
      paths: files.map((f) => f.path),
      revision: commit,
      hubUrl: hub.endpoint,
      fetch: hub.fetchFor(),
    });
    const byPath = new Map(infos.map((i) => [i.path, i]));
    for (const file of files) {
      const info = byPath.get(file.path);
      if (info?.type !== 'file') return false;
      const remote = { path: info.path, size: info.lfs?.size ?? info.size, oid: info.oid ?? '', ...(info.lfs ? { lfs: info.lfs.oid } : {}) };
      if (!(await holds(remote, file))) return false;
    }
    return true;
  } catch {
    // A commit the hub does not know (any more): not a pin to keep.
    return false;
  }
}

/** The pins of the release.json the libs repository holds at `head`, if it has one of ours. */
export async function publishedPins(hub: Hub, libsRepo: string, head: string): Promise<Record<string, string>> {
  try {
    const blob = await downloadFile({ repo: { type: 'model', name: libsRepo }, path: INVENTORY, revision: head, hubUrl: hub.endpoint, fetch: hub.fetchFor() });
    if (!blob) return {};
    const inventory = JSON.parse(await blob.text()) as { published?: Partial<PublishedFacts> } | null;
    const repos = inventory?.published?.repos;
    if (typeof repos !== 'object') return {};
    return Object.fromEntries(Object.entries(repos).filter((e): e is [string, string] => typeof e[1] === 'string' && /^[0-9a-f]{40}$/.test(e[1])));
  } catch {
    // Not ours, not JSON: no pins to keep.
    return {};
  }
}
