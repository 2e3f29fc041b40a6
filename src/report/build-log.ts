// src/report/ owns how things look: observers of the event stream (plain lines, NDJSON, the live
// view, the profile), plan tables and diagnostics. It decides nothing.
//
// Plain build output for people and CI logs (stderr): what ran or was restored, failures in full,
// then a summary. Fresh steps are counted, not listed.
import type { BuildEvent, FinishStatus, KindTotals, RemoteTotals, StepFailure, SummaryEvent } from '../exec/events.js';
import { formatBytes } from '../manifest/units.js';
import { NODE_KINDS, type NodeKind } from '../steps/names.js';
import { shellLine } from '../toolchain/argv.js';
import { tookText } from './took.js';

export function plainLogger(write: (s: string) => void): (e: BuildEvent) => void {
  // Steps skipped because of a failure are listed only while few; the summary counts them all.
  const SKIPS_LISTED = 8;
  let skips = 0;
  return (e) => {
    switch (e.event) {
      case 'start':
      case 'run':
        return;
      case 'finish':
        switch (e.status) {
          case 'fresh':
            return;
          case 'ran':
          case 'cached': {
            write(`  ${e.status.padEnd(7)} ${e.node} (${seconds(e.ms)})\n`);
            return;
          }
          case 'skipped':
            if (++skips > SKIPS_LISTED) return;
            {
              write(`  skipped ${e.node}${e.reason ? `: ${e.reason}` : ''}${skips === SKIPS_LISTED ? ' (further skipped steps are only counted)' : ''}\n`);
              return;
            }
          case 'interrupted': {
            write(`  ${e.status.padEnd(7)} ${e.node}${e.reason ? `: ${e.reason}` : ''}\n`);
            return;
          }
          case 'failed': {
            const text = failureText(e.node, e.failure);
            if (text !== undefined) write(text);
            return;
          }
        }
        return;
      case 'progress':
        return; // the live view shows it; plain logs stay short
      case 'warning': {
        write(`warning: ${e.message}\n`);
        return;
      }
      case 'trigger': {
        write(`mlc-build: ${e.files.length === 0 ? 'rebuilding' : `changed: ${listed(e.files)}`}\n`);
        return;
      }
      case 'cancelled': {
        write(`  cancel  ${e.node}: ${e.reason}\n`);
        return;
      }
      case 'summary': {
        const [head, tail] = summaryParts(e);
        write(`${head}${seconds(e.ms)}${tail}`);
        return;
      }
    }
  };
}

/**
 * A failed node as people read it, in the one place every log renders failures: undefined for
 * nodes reported before the build (blocked), else the reason, what to do, the command and its log.
 */
export function failureText(node: string, f: StepFailure | undefined): string | undefined {
  if (!f) return `FAILED  ${node}: failed\n`;
  switch (f.reason) {
    case 'blocked':
      return undefined;
    case 'internal':
      return `INTERNAL ERROR  ${node} (a bug in mlc-build, not in the step; please report it):\n  ${f.message.replace(/\n/g, '\n  ')}\n`;
    case 'step-failed':
    case 'unavailable':
    case 'source-unreachable':
    case 'verification-failed':
    case 'no-space':
    case 'permission-denied':
    case 'read-only':
    case 'cancelled': {
      const lines = [`FAILED  ${node}: ${f.message}`];
      if (f.advice !== undefined) lines.push(`  what to do: ${f.advice}`);
      // One line a user can paste in the project folder: the output folder first, as `plan --commands` does.
      if (f.argv) lines.push(`  $ ${[...(f.setup ?? []).map((c) => shellLine(c)), shellLine(f.argv, f.env)].join(' && ')}`);
      if (f.log !== undefined) lines.push(`  log: ${f.log}`);
      for (const l of f.tail ?? []) lines.push(`  | ${l}`);
      return lines.join('\n') + '\n';
    }
  }
}

/** The remote cache's line of the summary. */
export function remoteText(r: RemoteTotals): string {
  const parts = [`${r.hits} restored (${formatBytes(r.fetched_bytes)} fetched)`, `${r.uploads} uploaded (${formatBytes(r.uploaded_bytes)} sent)`];
  if (r.upload_failures > 0) parts.push(`${r.upload_failures} upload${r.upload_failures === 1 ? '' : 's'} failed`);
  return `  remote cache ${r.server}: ${parts.join(', ')}\n`;
}

/** A few paths, then how many more. */
function listed(files: readonly string[]): string {
  return files.length <= 4 ? files.join(', ') : `${files.slice(0, 3).join(', ')} and ${files.length - 3} more`;
}

/** The preflight report: what cannot run here, grouped by reason. */
export function blockedText(blocked: ReadonlyMap<string, string>): string {
  const byReason = new Map<string, string[]>();
  for (const [id, reason] of blocked) byReason.set(reason, [...(byReason.get(reason) ?? []), id]);
  const lines = ['mlc-build: some steps cannot run on this machine:'];
  for (const [reason, ids] of byReason)
    lines.push(`  - ${reason}`, `    (${ids.length === 1 ? ids[0] : `${ids.length} steps: ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''}`})`);
  return lines.join('\n') + '\n';
}

/** Per step kind, what ran (and the time it took) and what was restored from the store. */
export function kindsText(kinds: Partial<Record<NodeKind, KindTotals>>): string {
  const lines: string[] = [];
  for (const kind of NODE_KINDS) {
    const k = kinds[kind];
    if (!k || k.ran + k.cached + k.failed === 0) continue;
    const parts: string[] = [];
    if (k.ran > 0) parts.push(k.ms > 0 ? `${k.ran} ran (${seconds(k.ms)})` : `${k.ran} ran`);
    if (k.cached > 0) parts.push(`${k.cached} cached`);
    if (k.failed > 0) parts.push(`${k.failed} failed`);
    if (k.fresh > 0) parts.push(`${k.fresh} fresh`);
    lines.push(`  ${kind.padEnd(9)} ${parts.join(', ')}\n`);
  }
  return lines.join('');
}

/** The summary as plain logs write it: head, the build's time, tail (the no-op stamp prints it the same way). */
export function summaryParts(e: SummaryEvent): [string, string] {
  return [`mlc-build: ${summaryText(e.counts)} in `, `\n${kindsText(e.kinds)}${e.remote ? remoteText(e.remote) : ''}`];
}

export function summaryText(counts: Record<FinishStatus, number>): string {
  const order: FinishStatus[] = ['ran', 'cached', 'fresh', 'failed', 'skipped', 'interrupted'];
  const parts = order.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  if (counts.ran + counts.cached + counts.failed + counts.skipped + counts.interrupted === 0) return `nothing to do (${counts.fresh} fresh)`;
  return parts.join(', ');
}

const seconds = tookText;

/** NDJSON on stdout: one event per line (DESIGN §4). */
export function jsonLogger(write: (s: string) => void): (e: BuildEvent) => void {
  return (e) => write(JSON.stringify(e) + '\n');
}
