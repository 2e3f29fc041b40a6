import type { Command } from 'commander';
import { relative } from 'node:path';
import type { NodeState, PlannedNode } from '../../exec/plan.js';
import { makePlan } from '../../exec/plan.js';
import { stepOf } from '../../steps/index.js';
import { allHostsRequested, deleteStamp, openContext, recordNoop, remoteLacks, traceStamp, type GlobalOptions, type NoopRequest } from '../../app/index.js';
import { diagnosticsText } from '../../report/diagnostics.js';
import { stampable, type ReadRequest } from '../noop-request.js';
import { loadSelected, SELECTOR_HELP } from '../context.js';

const RANK: Record<NodeState, number> = { fresh: 0, cached: 1, stale: 2, missing: 3, unavailable: 4 };

export function registerStatus(program: Command, setExit: (code: number) => void, read: ReadRequest | undefined): void {
  program
    .command('status')
    .description('fresh, cached, stale, missing or unavailable (on this host), for every artifact under out/')
    .argument('[selectors...]', 'model=, quant=, target=, step= or node ids')
    .option('--json', 'a JSON array of {path, state, reason, nodes}, and remote_lacks with a remote cache')
    .addHelpText('after', SELECTOR_HELP)
    .action(async (selectors: string[], opts: { json?: boolean }) => {
      const loaded = await loadSelected(program.opts<GlobalOptions>(), selectors);
      if ('exit' in loaded) {
        setExit(loaded.exit);
        return;
      }
      const { project, selected, unavailable } = loaded;
      const ctx = await openContext(project, { readOnly: true });
      const plan = await makePlan(ctx, selected, unavailable);
      // With a remote cache, --json says which results it lacks (asked now; null if it could not be asked).
      const lacks = opts.json && project.remote ? await remoteLacks(ctx, selected) : undefined;
      await ctx.cache.flush();
      await ctx.store.close();
      const byId = new Map(plan.nodes.map((n) => [n.id, n]));
      // An artifact is as fresh as the least fresh step that writes it.
      const artifacts = new Map<string, PlannedNode[]>();
      const add = (path: string, n: PlannedNode | undefined) => {
        if (n) artifacts.set(path, [...(artifacts.get(path) ?? []), n]);
      };
      for (const node of project.graph.nodes.values()) {
        if (!selected.has(node.id)) continue;
        for (const path of stepOf(node).artifacts(ctx)) add(path, byId.get(node.id));
      }
      const rows = [...artifacts].map(([path, nodes]) => {
        const worst = nodes.reduce((a, b) => (RANK[b.state] > RANK[a.state] ? b : a));
        return {
          path: relative(project.manifest.root, path) + (path.endsWith('/') ? '/' : ''),
          state: worst.state,
          reason: worst.state === 'fresh' ? '' : `${worst.id}: ${worst.reason}`,
          nodes: nodes.map((n) => n.id),
          ...(opts.json && project.remote ? { remote_lacks: lacks ? nodes.filter((n) => lacks.has(n.id)).map((n) => n.id) : null } : {}),
        };
      });
      const text = opts.json ? JSON.stringify(rows) + '\n' : statusTable(rows);
      process.stdout.write(text);
      // Everything fresh (or not buildable here, which needs no store lookup to say): the same
      // status again is known from stats alone while nothing it read changes.
      const global = program.opts<GlobalOptions>();
      const asked: NoopRequest = { command: 'status', selectors, allHosts: allHostsRequested(global.allHosts, process.env), json: opts.json === true };
      if (stampable(read, asked, project.manifest)) {
        const settled = rows.every((r) => r.state === 'fresh' || r.state === 'unavailable') && !(opts.json && project.remote);
        deleteStamp(project.manifest.root, asked, process.env);
        const run = { request: asked, before: diagnosticsText(project.warnings), host: loaded.host.reads };
        traceStamp(settled ? recordNoop(project, ctx, run, { printed: [{ to: 'stdout', text }] }) : { written: false, why: 'not every artifact is fresh' });
      }
    });
}

function statusTable(rows: readonly { path: string; state: NodeState; reason: string }[]): string {
  const width = Math.max(...rows.map((r) => r.path.length));
  const stateWidth = Math.max(...rows.map((r) => r.state.length));
  const lines = rows.map((r) => `${r.state.padEnd(stateWidth)} ${r.path.padEnd(width)}  ${r.reason}\n`.replace(/\s+\n$/, '\n'));
  const counts = rows.reduce<Record<string, number>>((c, r) => ({ ...c, [r.state]: (c[r.state] ?? 0) + 1 }), {});
  const total = `${rows.length} artifacts: ${Object.entries(counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ')}\n`;
  return lines.join('') + total;
}
