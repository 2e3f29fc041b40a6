import type { Command } from 'commander';
import type { Files } from '../../exec/builder.js';
import { diffFields } from '../../exec/keys.js';
import { didYouMean } from '../../manifest/suggest.js';
import { EXIT } from '../exit-codes.js';
import { load, openBuilder, type GlobalOptions } from '../context.js';

export function registerExplain(program: Command, setExit: (code: number) => void): void {
  program
    .command('explain')
    .description('why a node would run: which key field changed since the last build')
    .argument('<node>', 'a node id, e.g. compile:Llama-2-7b-chat-hf/q4f16_1/cuda')
    .action(async (id: string) => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) return setExit(EXIT.usage);
      if (!project.graph.nodes.has(id)) {
        process.stderr.write(`mlc-build: unknown node ${JSON.stringify(id)}${didYouMean(id, [...project.graph.nodes.keys()])}\n`);
        return setExit(EXIT.usage);
      }
      const builder = await openBuilder(project, { readOnly: true });
      const available = new Map<string, Files>();
      const lines: string[] = [];
      for (const node of project.graph.nodes.values()) {
        const d = await builder.decide(node, available);
        const last = builder.state.nodes[node.id];
        if (d.kind === 'source') available.set(node.id, d.files);
        if (d.kind === 'step' && d.record) available.set(node.id, builder.recordFiles(d.record));
        if (node.id !== id) continue;
        switch (d.kind) {
          case 'waits':
            lines.push(`${id} waits for ${d.deps.join(', ')}, which must run first; its own key is known only then.`);
            for (const dep of d.deps) lines.push(`  (run: mlc-build explain ${dep})`);
            break;
          case 'unavailable':
            lines.push(`${id} cannot be evaluated here: ${d.reason}${d.detail ? `\n  ${d.detail}` : ''}`);
            break;
          case 'fetch':
            lines.push(`${id} must be downloaded: ${d.reason}`);
            break;
          case 'source':
          case 'step': {
            const state = d.kind === 'source' ? (last?.key === d.key ? 'fresh' : 'changed') : d.record ? (d.placed ? 'fresh' : 'cached (in the store, not in out/)') : 'must run';
            lines.push(`${id}: ${state}`, `  key ${d.key}`);
            if (!last) lines.push('  no earlier build of this node is recorded');
            else if (last.key === d.key) lines.push('  same key as the last build');
            else {
              const before = await builder.lastFields(node.id);
              if (!before) lines.push('  the last build’s record is gone from the store (garbage-collected?): its fields cannot be compared');
              else lines.push('  changed since the last build:', ...diffFields(before, d.fields).map((l) => `    ${l}`));
            }
          }
        }
        break;
      }
      await builder.store.close();
      process.stdout.write(lines.join('\n') + '\n');
    });
}
