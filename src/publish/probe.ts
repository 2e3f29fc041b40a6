// --dry-run: what a commit would send, asked of the hub without changing it. The library's commit
// runs through its read-only queries (preupload: inline or LFS; the LFS batch: which objects the
// server lacks) with a batch answer rewritten to ask for nothing, and is stopped before it commits.
import { commitIter } from '@huggingface/hub';
import { err, ok, type Result } from '../result.js';
import { describeHubError } from './access.js';
import type { Changes } from './compare.js';
import { operationsOf } from './commit.js';
import type { Hub } from './hub.js';
import type { RepoContent } from './layout.js';
import { TransferMeter, type Sent } from './transfer.js';

export async function probeCommit(hub: Hub, content: RepoContent, diff: Changes, parent: string): Promise<Result<Sent, string>> {
  const meter = new TransferMeter(new Map(content.files.map((f) => [f.path, f.size])), true);
  const steps = commitIter({
    repo: { type: 'model', name: content.repo },
    title: 'dry run',
    operations: operationsOf(diff),
    parentCommit: parent,
    hubUrl: hub.endpoint,
    fetch: hub.fetchFor(meter.watch),
  });
  try {
    for (let step = await steps.next(); !step.done; step = await steps.next()) {
      if (step.value.event === 'phase' && step.value.phase === 'committing') {
        await steps.return(undefined);
        break;
      }
    }
  } catch (e) {
    return err(describeHubError(e, hub, `asking ${content.repo} what it lacks`, content.repo));
  }
  return ok(meter.sent());
}
