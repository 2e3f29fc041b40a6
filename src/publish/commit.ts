// One commit per repository through @huggingface/hub, carrying parentCommit = the head the
// comparison read: if the branch moved meanwhile (the hub answers 412), the tree is read again and
// what to send recomputed, once; a second move fails naming both revisions. Never a force push.
import { pathToFileURL } from 'node:url';
import { commit, HubApiError, type CommitOperation } from '@huggingface/hub';
import { err, ok, type Result } from '../result.js';
import { describeHubError } from './access.js';
import { changes, noChanges, readRepo, type Changes, type RepoState } from './compare.js';
import type { Hub } from './hub.js';
import type { LocalFile, RepoContent } from './layout.js';
import { TransferMeter, type Sent } from './transfer.js';

export type CommitOutcome =
  | { kind: 'up-to-date'; head: string; unchanged: number }
  | { kind: 'committed'; commit: string; parent: string; sent: Sent; unchanged: number; deleted: string[] };

export interface CommitRequest {
  hub: Hub;
  content: RepoContent;
  /** What the comparison read; the repository exists. */
  state: Extract<RepoState, { exists: true }>;
  /** Paths of the repository a commit leaves alone besides .gitattributes (--keep-extra: all). */
  keep: (path: string) => boolean;
  title: string;
}

export async function commitChanges(req: CommitRequest): Promise<Result<CommitOutcome, string>> {
  const { hub, content } = req;
  let state = req.state;
  for (let attempt = 1; ; attempt++) {
    const diff = await changes(content.files, state.files, req.keep);
    if (noChanges(diff)) return ok({ kind: 'up-to-date', head: state.head, unchanged: diff.unchanged });
    const meter = new TransferMeter(new Map(content.files.map((f) => [f.path, f.size])), false);
    try {
      const done = await commit({
        repo: { type: 'model', name: content.repo },
        title: req.title,
        operations: operationsOf(diff),
        parentCommit: state.head,
        hubUrl: hub.endpoint,
        fetch: hub.fetchFor(meter.watch),
      });
      const sha = done?.commit.oid;
      if (sha === undefined) return err(`committing to ${content.repo}: the hub answered without a commit`);
      return ok({ kind: 'committed', commit: sha, parent: state.head, sent: meter.sent(), unchanged: diff.unchanged, deleted: diff.delete });
    } catch (e) {
      if (!(e instanceof HubApiError && e.statusCode === 412)) return err(describeHubError(e, hub, `committing to ${content.repo}`, content.repo));
    }
    // The branch moved since it was read: read it again, and send what is still missing.
    const read = state.head;
    const again = await readRepo(hub, content.repo);
    if (!again.ok) return again;
    if (!again.value.exists) return err(`${content.repo} was deleted while publishing`);
    if (attempt >= 2) {
      return err(
        `${content.repo}: main moved twice while publishing (read ${read}, then found ${again.value.head}); nothing was committed to it: publish again once the other writer is done`,
      );
    }
    state = again.value;
  }
}

/** The commit's operations: uploads first (by path), then deletions. */
export function operationsOf(diff: Changes): CommitOperation[] {
  return [
    ...diff.upload.map((f): CommitOperation => ({ operation: 'addOrUpdate', path: f.path, content: contentOf(f) })),
    ...diff.delete.map((path): CommitOperation => ({ operation: 'delete', path })),
  ];
}

function contentOf(file: LocalFile): Blob | URL {
  return 'data' in file.source ? new Blob([file.source.data]) : pathToFileURL(file.source.file);
}
