// src/watch/ owns watch mode: what the builds read (watch-set.ts), the file watcher, and the
// session of rebuilds. It stands on app/ and exec/, never on cli/.
//
// `mlc-build watch`: a first build, then a rebuild after each confirmed change. Each rebuild
// re-plans and supersedes the one before; running steps are decided by key (exec/running.ts, and
// the build loop's takeover), never stopped wholesale. Results are ordinary store records.
import { join, relative, sep } from 'node:path';
import {
  EXIT,
  jobsFor,
  listenForInterrupts,
  loadProjectFor,
  lockProject,
  openContext,
  selectIn,
  skipText,
  thisMachine,
  type ExitCode,
  type GlobalOptions,
  type Interrupts,
  type Project,
  type SelectionRequest,
} from '../app/index.js';
import { startBuild, summaryEvent, type BuildHandle, type BuildOutcome } from '../exec/build.js';
import type { BuildContext } from '../exec/context.js';
import type { BuildEvent, Emit } from '../exec/events.js';
import { RunningSteps } from '../exec/running.js';
import { LOCK_FILE } from '../lockfile/lock-file.js';
import { findManifest } from '../manifest/load.js';
import type { NodeKind } from '../steps/names.js';
import { blockedText } from '../report/build-log.js';
import { buildLog } from '../report/build-output.js';
import { printDiagnostics } from '../report/diagnostics.js';
import { hubCacheDir } from '../sources/hf.js';
import { loadProjectState, type ProjectState } from '../store/project-state.js';
import type { HeldLock } from '../store/project-lock.js';
import { hashFile } from '../store/hash.js';
import { Store } from '../store/store.js';
import { FileWatcher } from './file-watcher.js';
import { WatchSet } from './watch-set.js';

export interface WatchRequest {
  global: GlobalOptions;
  selectors: string[];
  /** The command names (a word that is one is a misplaced command, not a selector). */
  commands: readonly string[];
  jobs?: number;
  keepGoing: boolean;
  json: boolean;
  verify: boolean;
  /** --debounce; else the manifest's watch.debounce_ms; else 200. */
  debounceMs?: number;
  /** --poll; else the manifest's watch.poll. */
  poll?: boolean;
}

const DEFAULT_DEBOUNCE_MS = 200;

/** Runs until SIGINT/SIGTERM; returns the exit code (130), or 2 if it cannot start. */
export async function watchProject(req: WatchRequest): Promise<ExitCode> {
  const file = await findManifest(process.cwd(), req.global.config);
  if (!file.ok) {
    printDiagnostics(file.error);
    return EXIT.usage;
  }
  // The manifest's digest is taken before it is read: an edit in between is then seen as a change.
  const manifestDigest = await hashFile(file.value).then(
    (h) => h.digest,
    () => undefined,
  );
  const first = await loadProjectFor(req.global);
  printDiagnostics(first.ok ? first.value.warnings : first.error);
  if (first.ok) {
    // Selectors are checked once, at the start: a typo is a usage error, not something to watch.
    const sel = await selectIn(first.value, selectionOf(req));
    if ('problem' in sel) {
      process.stderr.write(`mlc-build: ${sel.problem}\n`);
      return sel.exit;
    }
  }
  const interrupts = listenForInterrupts();
  try {
    return await new WatchSession(req, file.value, manifestDigest, first.ok ? first.value : undefined, interrupts).run();
  } finally {
    interrupts.close();
  }
}

function selectionOf(req: WatchRequest): SelectionRequest {
  return { selectors: req.selectors, commands: req.commands, skip: true, allHosts: req.global.allHosts };
}

interface Current {
  handle: BuildHandle;
  ctx: BuildContext;
  log: { observe: Emit; stop(): void };
  /** Steps this rebuild cancelled so far. */
  cancelled: () => number;
}

class WatchSession {
  private readonly running = new RunningSteps();
  private readonly knownFailures = new Map<string, string>();
  private readonly draining = new Set<Promise<BuildOutcome>>();
  private readonly watcher: FileWatcher;
  private readonly watchSet: WatchSet;
  private generation = 0;
  private current: Current | undefined;
  private store: Store | undefined;
  private state: ProjectState | undefined;
  private lock: HeldLock | undefined;
  private lastSkipText = '';
  private lastBlocked = '';
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly req: WatchRequest,
    private readonly manifestFile: string,
    private readonly manifestDigest: string | undefined,
    private project: Project | undefined,
    private readonly interrupts: Interrupts,
  ) {
    const settings = project?.manifest.watch;
    const env = process.env;
    const excluded = project ? [project.manifest.out, project.manifest.cache, hubCacheDir(env)] : [hubCacheDir(env)];
    this.watchSet = new WatchSet(excluded, (p) => this.digest(p));
    this.watcher = new FileWatcher({
      debounceMs: req.debounceMs ?? settings?.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      poll: req.poll ?? settings?.poll ?? false,
      onBatch: (paths) => this.enqueue(() => this.changed(paths)),
      onError: (message) => this.say(`warning: watching files: ${message}`),
    });
    this.running.onEnd(() => this.enqueue(() => this.releaseLockIfIdle()));
  }

  async run(): Promise<ExitCode> {
    this.listenForRetry();
    this.watchSet.addFile(this.manifestFile, this.manifestDigest);
    if (this.project) {
      this.enqueue(() => this.rebuild([]));
    } else {
      await this.watcher.set(this.watchSet.paths());
      this.say(`mlc-build: watching ${this.rel(this.manifestFile)} for a fix`);
    }
    await this.interrupts.stopped();
    // Same guarantees as a build: every step stopped, results recorded, staging cleared.
    await this.queue;
    const current = this.current;
    if (current) await current.handle.done.then((o) => this.finished(current, o));
    await Promise.allSettled([...this.draining]);
    await this.running.idle();
    await this.watcher.close();
    await this.store?.close();
    await this.lock?.release();
    process.stdin.pause();
    return EXIT.interrupted;
  }

  /** Session work runs one piece at a time, in order; a failure is reported and watching goes on. */
  /** After the first SIGINT/SIGTERM: no rebuild starts, the running one stops. */
  private stopped(): boolean {
    return this.interrupts.stop.aborted;
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((e: unknown) => {
      this.say(`mlc-build: internal error in watch (a bug; watching goes on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    });
  }

  private async changed(paths: string[]): Promise<void> {
    if (this.stopped()) return;
    const files = await this.watchSet.confirm(paths);
    if (files.length > 0) await this.rebuild(files);
  }

  /** Reloads the manifest when it changed, then starts a rebuild that supersedes the running one. */
  private async rebuild(files: string[]): Promise<void> {
    if (this.stopped()) return;
    const manifestChanged = files.includes(this.manifestFile) || !this.project;
    if (manifestChanged && files.length > 0) {
      const loaded = await loadProjectFor(this.req.global);
      if (!loaded.ok) {
        printDiagnostics(loaded.error);
        this.say(`mlc-build: the manifest has errors; ${this.project ? 'still watching with the last good one' : 'watching it for a fix'}`);
        // Only the manifest changed: nothing to rebuild until it is fixed.
        if (!this.project || files.every((f) => f === this.manifestFile)) return this.watchMore();
      } else {
        printDiagnostics(loaded.value.warnings);
        this.project = loaded.value;
      }
    }
    const project = this.project;
    if (!project) return;
    const sel = await selectIn(project, selectionOf(this.req));
    if ('problem' in sel) {
      this.say(`mlc-build: ${sel.problem}`);
      this.say('mlc-build: the selectors do not match the manifest; still watching');
      return this.watchMore();
    }
    const { manifest } = project;
    const log = buildLog(this.req.json, sel.selected.size);
    // The rebuild before this one: its running steps stay until this one decides them by key.
    const before = this.current;
    if (before) {
      await before.handle.supersede();
      before.log.stop();
      this.draining.add(before.handle.done);
      void before.handle.done.finally(() => {
        this.draining.delete(before.handle.done);
        this.enqueue(() => this.releaseLockIfIdle());
      });
    }
    const generation = ++this.generation;
    let cancelled = 0;
    const emit: Emit = (e: BuildEvent) => {
      if (e.event === 'cancelled') cancelled++;
      log.observe(e);
    };
    if (generation > 1) emit({ event: 'trigger', files: files.map((f) => this.rel(f)) });
    if (!this.store || this.store.root !== manifest.cache) {
      await this.store?.close();
      this.store = await Store.open(manifest.cache);
      this.state = await loadProjectState(manifest.cache, manifest.root);
    }
    if (!this.lock) {
      const locked = await lockProject(manifest, true);
      if (!locked.ok) {
        this.say('mlc-build: still watching; the build starts once the store can be written');
        return;
      }
      this.lock = locked.value;
      if (this.stopped()) return;
    }
    const skipped = skipText(project, sel.sel, sel.host, sel.selected) ?? '';
    if (skipped !== this.lastSkipText && !this.req.json) process.stderr.write(skipped);
    this.lastSkipText = skipped;
    const ctx = await openContext(
      project,
      { readOnly: false, verify: this.req.verify, tokenFile: this.req.global.tokenFile },
      { store: this.store, state: this.state as ProjectState },
    );
    ctx.stateChanged = true; // the state is shared: an earlier, superseded rebuild may have changed it
    const blocked = await ctx.preflight(sel.selected);
    const blockedNow = blocked.size > 0 ? blockedText(blocked) : '';
    if (blockedNow !== this.lastBlocked && !this.req.json) process.stderr.write(blockedNow);
    this.lastBlocked = blockedNow;
    // Watch what is known before the build starts (the toolchain, local model folders), so a save
    // during a long first build is not missed.
    await this.learnInputs(ctx, project);
    const machine = thisMachine();
    const handle = startBuild(
      ctx,
      sel.selected,
      {
        jobs: jobsFor(manifest, machine, this.req.jobs),
        machine,
        keepGoing: this.req.keepGoing,
        signal: this.interrupts.stop,
        kill: this.interrupts.kill,
        blocked,
        watch: { running: this.running, generation, supersede: (kind) => this.policyOfKind(kind), knownFailures: this.knownFailures },
      },
      emit,
    );
    const current: Current = { handle, ctx, log, cancelled: () => cancelled };
    this.current = current;
    void current.handle.done.then(
      (outcome) => this.enqueue(() => this.finished(current, outcome)),
      (e: unknown) => this.say(`mlc-build: internal error in the build: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
    );
  }

  /** A rebuild ended (and was not superseded): its summary, the failures to remember, what to watch. */
  private async finished(current: Current, outcome: BuildOutcome): Promise<void> {
    if (this.current !== current) return;
    this.current = undefined;
    for (const r of outcome.results.values()) {
      // Only the step's own failure waits for a change of its inputs; a full disk or a bug is retried.
      if (r.status === 'failed' && r.key !== undefined && r.failure?.reason === 'step-failed') this.knownFailures.set(r.node, r.key);
      else if (r.status === 'ran' || r.status === 'cached' || r.status === 'fresh') this.knownFailures.delete(r.node);
    }
    // What this build read is watched before its summary: a save after the summary is never missed.
    if (this.project) await this.learnInputs(current.ctx, this.project);
    current.log.observe(summaryEvent(outcome));
    current.log.stop();
    await this.releaseLockIfIdle();
    if (this.stopped() || this.req.json) return;
    const { counts } = outcome;
    const ok = counts.failed + counts.interrupted === 0;
    const parts = [`${counts.ran} ran`];
    if (counts.cached > 0) parts.push(`${counts.cached} cached`);
    if (counts.failed > 0) parts.push(`${counts.failed} failed`);
    if (current.cancelled() > 0) parts.push(`${current.cancelled()} cancelled`);
    const retry = counts.failed > 0 && process.stdin.isTTY ? ' · Enter retries failed steps' : '';
    this.say(
      `watching ${this.watchSet.fileCount} files · last build ${ok ? 'OK' : 'FAILED'} in ${(outcome.ms / 1000).toFixed(1)} s · ${parts.join(', ')} · ${new Date().toTimeString().slice(0, 8)}${retry}`,
    );
  }

  /** Adds what the build read to the watch set and watches it. */
  private async learnInputs(ctx: BuildContext, project: Project): Promise<void> {
    const { manifest } = project;
    for (const m of manifest.models) if (m.source.kind === 'local') ctx.observe(m.source.path);
    this.watchSet.addFiles(ctx.store.stats.seen);
    this.watchSet.addDirs(ctx.observedDirs);
    // Not the manifest: its baseline is what was loaded (confirm moves it), not what is there now.
    // The lock is: the build may have rewritten it, and its own writes are no change.
    this.watchSet.addFile(join(manifest.root, LOCK_FILE), await this.digest(join(manifest.root, LOCK_FILE)));
    const paths = this.watchSet.paths();
    const added = paths.filter((p) => !this.watcher.has(p));
    await this.watcher.set(paths);
    // A file the build read may have changed before its watch began: compare it with what was read.
    const missed = await this.watchSet.confirm(added);
    if (missed.length > 0) this.enqueue(() => this.rebuild(missed));
  }

  private async watchMore(): Promise<void> {
    await this.watcher.set(this.watchSet.paths());
  }

  /** The project lock is held while anything builds: a rebuild, or a step an earlier one started. */
  private async releaseLockIfIdle(): Promise<void> {
    if (!this.lock || this.current || this.draining.size > 0 || this.running.size > 0) return;
    const lock = this.lock;
    this.lock = undefined;
    await lock.release();
  }

  private policyOfKind(kind: NodeKind): 'cancel' | 'finish' {
    return this.project?.manifest.watch.supersede[kind] ?? 'cancel';
  }

  /** Enter on a terminal: retry the failed steps. */
  private listenForRetry(): void {
    if (!process.stdin.isTTY) return;
    process.stdin.on('data', () =>
      this.enqueue(async () => {
        if (this.knownFailures.size === 0) return;
        this.knownFailures.clear();
        await this.rebuild([]);
      }),
    );
  }

  private async digest(path: string): Promise<string | undefined> {
    try {
      return (this.store ? await this.store.stats.digest(path) : await hashFile(path)).digest;
    } catch {
      return undefined;
    }
  }

  private rel(abs: string): string {
    const root = this.project?.manifest.root ?? process.cwd();
    return relative(root, abs).split(sep).join('/');
  }

  /** A line for people, on stderr (stdout carries only NDJSON with --json). */
  private say(line: string): void {
    process.stderr.write(line + '\n');
  }
}
