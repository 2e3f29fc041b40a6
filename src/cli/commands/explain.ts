import type { Command } from 'commander';
import { evaluateAll } from '../../exec/plan.js';
import type { Evaluation } from '../../exec/evaluate.js';
import { diffFields } from '../../keys.js';
import { didYouMean } from '../../manifest/suggest.js';
import { allHostsRequested, EXIT, hostView, openContext, unavailableNodes, type GlobalOptions } from '../../app/index.js';
import { load } from '../context.js';

export function registerExplain(program: Command, setExit: (code: number) => void): void {
  program
    .command('explain')
    .description('why a node would run: which key field changed since the last build, or what this host lacks to build it')
    .argument('<node>', 'a node id, e.g. compile:Llama-2-7b-chat-hf/q4f16_1/cuda')
    .action(async (id: string) => {
      const global = program.opts<GlobalOptions>();
      const project = await load(global);
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      if (!project.graph.nodes.has(id)) {
        process.stderr.write(`mlc-build: unknown node ${JSON.stringify(id)}${didYouMean(id, [...project.graph.nodes.keys()])}\n`);
        setExit(EXIT.usage);
        return;
      }
      // What a host-aware build leaves out (a metal library on Linux) is said as such, not as work to do.
      const host = await hostView(project, allHostsRequested(global.allHosts, process.env), process.env);
      const unavailable = unavailableNodes(project, host).get(id);
      const ctx = await openContext(project, { readOnly: true });
      let found: Evaluation | undefined;
      // Every node up to this one is evaluated: its dependencies' outputs decide its key.
      await evaluateAll(ctx, new Set(project.graph.nodes.keys()), (n, ev) => {
        if (n === id) found = ev;
      });
      const ev = found as Evaluation;
      const last = ctx.state.nodes[id];
      const lines: string[] = [];
      const fresh = ev.kind === 'step' ? ev.hit !== undefined && ev.placed : ev.kind === 'source' && ev.fresh;
      if (unavailable !== undefined && !fresh) {
        lines.push(`${id}: ${unavailable}`, `  a build on this host leaves it out: build it on such a host or on CI, or pass --all-hosts to try it here`);
        if (ev.kind === 'step') lines.push(`  key here ${ev.key}`);
        await ctx.store.close();
        process.stdout.write(lines.join('\n') + '\n');
        return;
      }
      switch (ev.kind) {
        case 'waits':
          lines.push(`${id} waits for ${ev.deps.join(', ')}, which must run first; its own key is known only then.`);
          for (const dep of ev.deps) lines.push(`  (run: mlc-build explain ${dep})`);
          break;
        case 'unavailable':
          lines.push(`${id} cannot be evaluated here: ${ev.reason}`);
          break;
        case 'fetch':
          lines.push(`${id} must be downloaded: ${ev.reason}`);
          break;
        case 'source':
        case 'step': {
          const key = ev.kind === 'source' ? ev.found.key : ev.key;
          const fields = ev.kind === 'source' ? ev.found.fields : ev.fields;
          const state =
            ev.kind === 'source'
              ? ev.fresh
                ? 'fresh'
                : 'changed'
              : ev.hit
                ? ev.placed
                  ? 'fresh'
                  : `cached (in ${ev.hit.from === 'local' ? 'the store' : ev.hit.from}, not in out/)`
                : 'must run';
          lines.push(`${id}: ${state}`, `  key ${key}`);
          if (ev.kind === 'step' && !ev.placed) {
            for (const d of ev.differs ?? []) lines.push(`  ${ctx.display(d)} differs from what the last build placed there (edited or removed?)`);
          }
          if (!last) lines.push('  no earlier build of this node is recorded');
          else if (last.key === key) lines.push('  same key as the last build');
          else {
            const before = await ctx.lastFields(id);
            if (!before) lines.push('  the last build’s record is gone from the store (garbage-collected?): its fields cannot be compared');
            else lines.push('  changed since the last build:', ...diffFields(before, fields).map((l) => `    ${l}`));
          }
        }
      }
      await ctx.store.close();
      process.stdout.write(lines.join('\n') + '\n');
    });
}
