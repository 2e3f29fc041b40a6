// What the remote cache lacks, asked now (status --json): for each selected step whose key is
// known, whether the remote holds its result whole (the entry and every blob it names). A memo of
// what it held once is not an answer: servers evict.
import type { BuildContext } from '../exec/context.js';
import { evaluateAll } from '../exec/plan.js';

/** The selected steps whose results the remote lacks; undefined when it could not be asked about one of them. */
export async function remoteLacks(ctx: BuildContext, selected: ReadonlySet<string>): Promise<Set<string> | undefined> {
  const keys: [string, string][] = [];
  await evaluateAll(ctx, selected, (id, ev) => {
    if (ev.kind === 'step') keys.push([id, ev.key]);
  });
  const answers = await Promise.all(keys.map(async ([id, key]) => ({ id, holdings: (await ctx.cache.holdings(key)).map((h) => h.holding) })));
  if (answers.some((a) => a.holdings.includes('unknown'))) return undefined;
  return new Set(answers.filter((a) => a.holdings.includes('lacks')).map((a) => a.id));
}
