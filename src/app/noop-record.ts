// Writing a no-op stamp (noop-stamp.ts) after a full run: what the run read, and what the next
// identical run would print if nothing changed — made with the same code that prints it.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summaryEvent, type BuildOutcome } from '../exec/build.js';
import type { BuildContext } from '../exec/context.js';
import type { BuildEvent } from '../exec/events.js';
import { Tally } from '../exec/tally.js';
import { LOCK_FILE } from '../lockfile/lock-file.js';
import { summaryParts } from '../report/build-log.js';
import { projectStatePath } from '../store/project-state.js';
import { STAT_CACHE_FILE } from '../store/store.js';
import { must } from '../must.js';
import { envDigest, manifestDigest, writeStamp, type HostReads, type NoopRequest, type Printed } from './noop-stamp.js';
import type { Project } from './project.js';

/** A run whose command line a stamp can answer: what it asked, and what it printed before its result. */
export interface NoopRun {
  request: NoopRequest;
  /** Text the command wrote to stderr before its result (manifest warnings, the cells skipped here). */
  before: string;
  host: HostReads | undefined;
}

/** mlc-build's own code and data: a stamp is void once they change. Paths are the bundle's (lib/cli/). */
function codeFiles(): string[] {
  const here = fileURLToPath(import.meta.url);
  const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
  return [here, join(dirname(here), 'fast.bundle.cjs'), join(dirname(here), '../../bin/mlc-build.js'), ...readdirSync(recipes).map((f) => join(recipes, f))];
}

/** Writes the stamp of a run that read through `ctx`; says why not when it cannot. */
export function recordNoop(
  project: Project,
  ctx: BuildContext,
  run: NoopRun,
  result: { printed: Printed[]; until?: number },
): { written: true } | { written: false; why: string } {
  const { manifest } = project;
  const { stats } = ctx.store;
  const absentWhenRead = new Set([...stats.seen].filter(([, digest]) => digest === undefined).map(([path]) => path));
  return writeStamp(
    {
      request: run.request,
      root: manifest.root,
      manifest: manifestDigest(manifest.source.text),
      env: envDigest(process.env),
      printed: [...(run.before === '' ? [] : [{ to: 'stderr' as const, text: run.before }]), ...result.printed],
      ...(result.until === undefined ? {} : { until: result.until }),
    },
    {
      files: [
        ...stats.observed,
        projectStatePath(manifest.cache, manifest.root),
        join(manifest.cache, STAT_CACHE_FILE),
        // The pins (sources, a managed toolchain) and the managed environment's mlc_llm.
        join(manifest.root, LOCK_FILE),
        ...(project.toolchain.from === 'managed' ? [project.toolchain.argv[0] as string] : []),
        ...codeFiles(),
      ],
      absentWhenRead,
      dirs: ctx.observedDirs,
      host: run.host,
    },
    process.env,
  );
}

/**
 * What a no-op build of the same nodes prints: every node finishes fresh with the key it has now,
 * counted by the build's own tally, then the summary, as NDJSON or as the plain log's summary.
 */
export function noopBuildOutput(project: Project, outcome: BuildOutcome, json: boolean): Printed[] {
  const events: BuildEvent[] = [];
  const tally = new Tally((e) => events.push(e));
  for (const r of outcome.results.values()) {
    const node = must(project.graph.nodes, r.node, 'a node the build finished');
    events.push({ event: 'start', node: node.id, kind: node.kind });
    tally.finish(node, 'fresh', 0, r.key === undefined ? {} : { key: r.key });
  }
  // Nothing moves through a remote cache in a no-op: its line says so.
  const remote = outcome.remote.map((r) => ({ ...r, hits: 0, fetchedBytes: 0, uploadedBytes: 0, uploads: 0, uploadFailures: 0 }));
  const summary = summaryEvent({ ...outcome, counts: tally.counts, kinds: tally.kinds, ms: 0, remote });
  if (json)
    return [
      { to: 'stdout', text: events.map((e) => JSON.stringify(e) + '\n').join('') },
      { to: 'stdout', summary },
    ];
  const [head, tail] = summaryParts(summary);
  return [
    { to: 'stderr', text: head },
    { to: 'stderr', took: true },
    { to: 'stderr', text: tail },
  ];
}
