// Human and machine renderings of a plan.
import { relative } from 'node:path';
import { countStates, type Plan } from '../exec/plan.js';
import { kindFacts } from '../steps/index.js';
import { shellLine } from '../toolchain/argv.js';

export function planTable(plan: Plan): string {
  const lines: string[] = [];
  const width = Math.max(0, ...plan.nodes.map((n) => n.id.length));
  // `unavailable` is the longest state: the columns line up whatever states the plan holds.
  const stateWidth = Math.max(7, ...plan.nodes.map((n) => n.state.length));
  let kind: string | undefined;
  for (const n of plan.nodes) {
    if (n.kind !== kind) {
      kind = n.kind;
      const count = plan.nodes.filter((m) => m.kind === n.kind).length;
      lines.push('', `${kindFacts(n.kind).title} (${count})`);
    }
    lines.push(`  ${n.state.padEnd(stateWidth)}  ${n.id.padEnd(width)}  ${n.reason}`);
    if (n.argv) lines.push(`${' '.repeat(stateWidth + 4)}$ ${shellLine(n.argv, n.env)}`);
  }
  lines.push('', planSummary(plan));
  return lines.join('\n').replace(/^\n/, '') + '\n';
}

export function planSummary(plan: Plan): string {
  const counts = countStates(plan);
  const toRun = counts.stale + counts.missing;
  const parts = (['missing', 'stale', 'cached', 'fresh', 'unavailable'] as const).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  return `${plan.nodes.length} steps (${parts.join(', ') || 'none'}): ${toRun === 0 ? 'nothing to do' : `${toRun} to run`}`;
}

export function planJson(plan: Plan): string {
  return (
    JSON.stringify({
      nodes: plan.nodes.map((n) => ({ id: n.id, kind: n.kind, deps: n.deps, state: n.state, reason: n.reason, argv: n.argv, env: n.env, outputs: n.outputs })),
    }) + '\n'
  );
}

/** The plan as shell lines a user could run by hand, in order. */
export function planCommands(plan: Plan, cwd: string): string {
  const lines: string[] = [];
  if (relative(cwd, plan.root) !== '') lines.push(`cd ${shellLine([plan.root])}`);
  const done = new Set<string>();
  for (const n of plan.nodes) {
    if (!n.argv) {
      lines.push(`# ${n.id}: ${n.reason} → ${n.outputs.join(' ')}`);
      continue;
    }
    for (const cmd of n.setup) {
      const line = shellLine(cmd);
      if (done.has(line)) continue;
      done.add(line);
      lines.push(line);
    }
    lines.push(shellLine(n.argv, n.env));
  }
  return lines.join('\n') + '\n';
}
