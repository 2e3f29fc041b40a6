// download:<model>/meta and download:<model>/weights: a source's files, found here or fetched.
import type { DownloadNode } from '../graph/nodes.js';
import type { StepKind } from './kind.js';
import { must } from '../must.js';

export const download: StepKind<DownloadNode> = {
  kind: 'download',
  aliases: [],
  title: 'Downloads',
  shape: 'folder',
  makes: 'source files',
  usesToolchain: false,
  inputs: {},
  resources: () => undefined,

  async evaluate(node, ctx) {
    const located = await ctx.source(node.model).locate(node.part);
    switch (located.kind) {
      case 'here':
        return { kind: 'source', found: located.found };
      case 'fetch':
      case 'unavailable':
        return located;
    }
  },

  fetch: (node, ctx, opts) => ctx.source(node.model).fetch(node.part, opts),
  args: () => null,

  plannedPaths(node, ctx, show) {
    return { outputs: [show(must(ctx.graph.snapshotDirs, node.model, 'snapshot folder of the model'), { dir: true })] };
  },

  env: () => ({}),
  outputName: () => '',
  check: () => Promise.resolve(undefined),

  placements(node, ctx, files) {
    // A fetched snapshot also appears in out/models/<model>/ (the seed's layout).
    if (!ctx.source(node.model).mirrored) return [];
    const dir = must(ctx.graph.snapshotDirs, node.model, 'snapshot folder of the model');
    return Object.entries(files).map(([n, f]) => ({ dest: `${dir}/${n}`, digest: f.digest, src: f.path }));
  },

  artifacts: () => [],
};
