// What one build (or plan, status, explain) works with: the manifest and graph, the store and
// its cache, the project state, the sources, the toolchain. It is the step kinds' StepContext, and
// keeps the bookkeeping every kind shares (keys, placements, what the decisions read).
import type { BuildGraph } from '../graph/build.js';
import type { StepNode } from '../graph/nodes.js';
import type { KeyFields } from '../keys.js';
import type { Manifest, Model, Target } from '../manifest/types.js';
import type { StepFailure } from '../failure.js';
import type { Result } from '../result.js';
import { sourceOpener, type Source } from '../sources/index.js';
import type { Lock } from '../lockfile/lock-file.js';
import { stepOf, type StepContext } from '../steps/index.js';
import { LayeredCache, type ActionCache } from '../store/cache.js';
import { REMOTE_ENV } from '../store/remote/settings.js';
import type { FileDigest } from '../store/hash.js';
import { isPlaced, notPlaced, placeAll, type Placement } from '../store/outputs.js';
import type { ProjectState } from '../store/project-state.js';
import type { Store, Tree } from '../store/store.js';
import type { ToolchainCommand } from '../toolchain/command.js';
import { fingerprintToolchain, type Fingerprint } from '../toolchain/fingerprint.js';
import type { ForeignKey } from '../toolchain/managed/foreign.js';
import { displayPath } from '../display-path.js';

/** Environment variables never passed to steps (mlc_llm needs no hub token: we download; nor the remote cache's secrets). */
export const WITHHELD_ENV = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', ...REMOTE_ENV];

export interface ContextOptions {
  verify: boolean;
  update?: boolean;
  tokenFile?: string;
}

export class BuildContext implements StepContext {
  readonly stepEnv: NodeJS.ProcessEnv;
  readonly cache: ActionCache;
  /** Folders whose listing this build's decisions read (source folders, toolchain search). */
  readonly observedDirs = new Set<string>();
  /** See StepContext.foreign; set by the commands that look up other hosts' results. */
  foreign: ReadonlyMap<string, ForeignKey> = new Map();
  /** See StepContext.building; set by the build and the plan to what they build. */
  building: ReadonlySet<string> | undefined;
  /** True once this build changed the project state (so a no-op build writes nothing). */
  stateChanged = false;
  private fp: Promise<Result<Fingerprint, string>> | undefined;
  private readonly memos = new Map<string, Promise<unknown>>();
  private readonly models: Map<string, Model>;
  private readonly targets: Map<string, Target>;
  private readonly openSource: (model: Model) => Source;

  constructor(
    readonly manifest: Manifest,
    readonly graph: BuildGraph,
    readonly store: Store,
    readonly toolchain: ToolchainCommand,
    readonly env: NodeJS.ProcessEnv,
    readonly state: ProjectState,
    readonly opts: ContextOptions,
    /** mlc.build.lock as it was when the build started: pinned commits and file digests. */
    readonly lock: Lock = { version: 1, sources: {} },
    cache?: ActionCache,
  ) {
    this.models = new Map(manifest.models.map((m) => [m.id, m]));
    this.targets = new Map(manifest.targets.map((t) => [t.name, t]));
    // One copy: reading process.env is slow, and steps must not see later changes anyway.
    const withheld = new Set(WITHHELD_ENV);
    this.stepEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !withheld.has(k)));
    this.cache = cache ?? new LayeredCache(store);
    this.openSource = sourceOpener({
      storeRoot: store.root,
      env,
      lock,
      update: opts.update ?? false,
      tokenFile: opts.tokenFile,
      digest: (p) => this.digest(p),
      observe: (d) => this.observe(d),
    });
  }

  /** A path as the user reads it: relative to the project, with forward slashes. */
  display(abs: string): string {
    return displayPath(abs, this.manifest.root);
  }

  model(id: string): Model {
    const m = this.models.get(id);
    if (!m) throw new Error(`no model ${id}`);
    return m;
  }

  target(name: string): Target {
    const t = this.targets.get(name);
    if (!t) throw new Error(`no target ${name}`);
    return t;
  }

  source(model: string): Source {
    return this.openSource(this.model(model));
  }

  fingerprint(): Promise<Result<Fingerprint, string>> {
    this.fp ??= fingerprintToolchain(this.toolchain, {
      fingerprintCmd: this.manifest.toolchain.fingerprint,
      cwd: this.manifest.root,
      env: this.env,
      stats: this.store.stats,
    }).then((fp) => {
      if (fp.ok) for (const f of fp.value.folders) this.observedDirs.add(f);
      return fp;
    });
    return this.fp;
  }

  async toolchainDigest(): Promise<Result<string, string>> {
    const fp = await this.fingerprint();
    return fp.ok ? { ok: true, value: fp.value.digest } : fp;
  }

  digest(path: string): Promise<FileDigest> {
    return this.store.stats.digest(path, { verify: this.opts.verify });
  }

  observe(dir: string): void {
    this.observedDirs.add(dir);
  }

  memo<T>(key: string, make: () => Promise<T>): Promise<T> {
    const known = this.memos.get(key);
    // One key, one producer: the value under a key is always what that key's `make` returns.
    if (known !== undefined) return known as Promise<T>;
    const made = make();
    this.memos.set(key, made);
    return made;
  }

  /**
   * Nodes that cannot run on this machine whatever happens upstream (a missing toolchain), with the
   * reason: reported once, before anything runs.
   */
  async preflight(selected: ReadonlySet<string>): Promise<Map<string, string>> {
    const blocked = new Map<string, string>();
    const steps = [...selected].filter((id) => {
      const node = this.graph.nodes.get(id);
      return node !== undefined && stepOf(node).usesToolchain;
    });
    if (steps.length === 0) return blocked;
    const fp = await this.fingerprint();
    if (!fp.ok) for (const id of steps) blocked.set(id, fp.error);
    return blocked;
  }

  /** Records a node's key: a source's with its fields, a step's with its outputs (its fields are in the store). */
  noteKey(node: StepNode, key: string, kept: { fields: KeyFields } | { outputs: Tree }): void {
    const last = this.state.nodes[node.id];
    if (last?.key === key && ('fields' in kept || last.outputs !== undefined)) return;
    this.state.nodes[node.id] = { key, ...kept };
    this.stateChanged = true;
  }

  /** The key fields of a node's last build, for explain and plan reasons. */
  async lastFields(nodeId: string): Promise<KeyFields | undefined> {
    const last = this.state.nodes[nodeId];
    if (!last) return undefined;
    return last.fields ?? (await this.cache.fields(last.key));
  }

  isPlaced(placements: readonly Placement[]): Promise<boolean> {
    return isPlaced(this.store.stats, placements, this.opts.verify);
  }

  /** The placements whose file is not in out/ with its digest. */
  notPlaced(placements: readonly Placement[]): Promise<Placement[]> {
    return notPlaced(this.store.stats, placements, this.opts.verify);
  }

  /** Notes placements already checked to be in place (a fresh node), for the sweep and `clean`. */
  notePlaced(node: StepNode, placements: readonly Placement[]): void {
    for (const p of placements) {
      const was = this.state.placed[p.dest];
      if (was?.digest === p.digest && was.node === node.id) continue;
      this.state.placed[p.dest] = { digest: p.digest, node: node.id };
      this.stateChanged = true;
    }
  }

  /** Places outputs in out/, or says why the disk refused (files placed before stay). */
  async place(node: StepNode, placements: readonly Placement[]): Promise<Result<void, StepFailure>> {
    const placed = await placeAll(this.store.stats, placements);
    if (placed.ok) this.notePlaced(node, placements);
    return placed;
  }
}
