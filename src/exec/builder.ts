// Decides, runs and places one node at a time. A node is fresh when its key has a record and its
// outputs are in place in out/, cached when the record's blobs only need placing, and otherwise runs.
import { writeFileSync } from 'node:fs';
import { link, mkdir, readFile, realpath, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BuildGraph } from '../graph/build.js';
import type { StepNode } from '../graph/nodes.js';
import type { Manifest, Model, Target } from '../manifest/types.js';
import { recipes } from '../recipes/index.js';
import { err, ok, type Result } from '../result.js';
import { isMetaFile } from '../sources/files.js';
import { fetchFiles, hubCacheDir, hubEndpoint, hubToken, repoFolder, resolveRevision, selectFiles, writeRef, type HubFile } from '../sources/hf.js';
import type { Lock } from '../sources/lock.js';
import { fetchGitPart, gitCheckoutDir, resolveGitRev } from '../sources/git.js';
import { hashLocalPart } from '../sources/local.js';
import { place } from '../store/materialize.js';
import type { ProjectState } from '../store/project-state.js';
import { exists, STEP_PID_FILE, type ActionRecord, type Store, type Tree } from '../store/store.js';
import type { ToolchainCommand } from '../toolchain/command.js';
import { fingerprintToolchain, type Fingerprint } from '../toolchain/fingerprint.js';
import type { StepFailure } from './events.js';
import { compileRelevantConfig, keyOf, type KeyFields } from './keys.js';
import { runProcess } from './run-process.js';
import { compileStep, convertStep, genConfigStep, type InputFile, type StepSpec } from './steps.js';

/** A node's outputs: file name → digest and a readable path (the user's file, or a blob). */
export type Files = Record<string, { digest: string; size: number; path: string }>;

export type Decision =
  | { kind: 'waits'; deps: string[] }
  /** Cannot be evaluated or produced here; `detail` says what to do about it. */
  | { kind: 'unavailable'; reason: string; detail?: string }
  | { kind: 'source'; files: Files; key: string; fields: KeyFields }
  /** A hub source not yet in the HF cache at its pinned commit (or not pinned yet): fetch it. */
  | { kind: 'fetch'; reason: string }
  | { kind: 'step'; key: string; fields: KeyFields; spec: StepSpec; record?: ActionRecord; placed: boolean };

export interface Placement {
  dest: string;
  digest: string;
  src: string;
}

/** Environment variables never passed to steps (mlc_llm needs no hub token: we download). */
const WITHHELD_ENV = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'];

export class Builder {
  private fp: Promise<Result<Fingerprint, string>> | undefined;
  /** compileRelevantConfig of each mlc-chat-config.json blob: one config feeds many compiles. */
  private readonly relevantConfigs = new Map<string, Promise<Record<string, unknown>>>();
  private readonly models: Map<string, Model>;
  private readonly targets: Map<string, Target>;

  constructor(
    readonly manifest: Manifest,
    readonly graph: BuildGraph,
    readonly store: Store,
    readonly toolchain: ToolchainCommand,
    readonly env: NodeJS.ProcessEnv,
    readonly state: ProjectState,
    readonly opts: { verify: boolean; update?: boolean; tokenFile?: string },
    /** mlc.build.lock as it was when the build started: pinned commits and file digests. */
    readonly lock: Lock = { version: 1, sources: {} },
  ) {
    this.models = new Map(manifest.models.map((m) => [m.id, m]));
    this.targets = new Map(manifest.targets.map((t) => [t.name, t]));
    for (const c of graph.nodes.values()) {
      if (c.kind !== 'config') continue;
      const pair = `${c.model}/${c.quant}`;
      this.weightsFolders.set(pair, [...(this.weightsFolders.get(pair) ?? []), c.outDir]);
    }
    // One copy: reading process.env is slow, and steps must not see later changes anyway.
    this.baseEnv = { ...env };
    for (const k of WITHHELD_ENV) delete this.baseEnv[k];
  }

  /** Hub resolutions of this build by source string (meta and weights share one). */
  private readonly resolutions = new Map<string, Promise<Result<{ commit: string; files: HubFile[] }, string>>>();
  /** What each hub source resolved to in this build, for mlc.build.lock. */
  readonly resolvedCommits = new Map<string, { commit: string; revision: string }>();

  /** Every folder of a model × quantization (base and variants): where its weights go. */
  private readonly weightsFolders = new Map<string, string[]>();
  private readonly baseEnv: NodeJS.ProcessEnv;

  fingerprint(): Promise<Result<Fingerprint, string>> {
    this.fp ??= fingerprintToolchain(this.toolchain, { fingerprintCmd: this.manifest.toolchain.fingerprint, cwd: this.manifest.root, env: this.env, stats: this.store.stats }).then((fp) => {
      if (fp.ok) for (const f of fp.value.folders) this.observedDirs.add(f);
      return fp;
    });
    return this.fp;
  }

  /** What to do with `node`, given the outputs of the dependencies that are available. */
  async decide(node: StepNode, done: ReadonlyMap<string, Files>): Promise<Decision> {
    const waits = node.deps.filter((d) => !done.has(d));
    if (waits.length > 0) return { kind: 'waits', deps: waits };
    const model = this.models.get(node.model) as Model;
    if (node.kind === 'download') return this.decideSource(node.part, model);

    const fp = await this.fingerprint();
    if (!fp.ok) return { kind: 'unavailable', reason: `toolchain: ${fp.error}` };
    const dep = (id: string) => done.get(id) as Files;
    const input = (files: Files, name: string): InputFile => ({ name, path: (files[name] as Files[string]).path, digest: (files[name] as Files[string]).digest });
    let fields: KeyFields;
    let spec: StepSpec;
    switch (node.kind) {
      case 'convert': {
        const meta = dep(node.deps[0] as string);
        const weights = dep(node.deps[1] as string);
        spec = convertStep(node, model, input(meta, 'config.json'), Object.keys(weights).map((n) => input(weights, n)));
        fields = {
          step: 'convert_weight',
          quantization: node.quant,
          model_type: model.modelType,
          source_format: model.sourceFormat,
          config_json: meta['config.json']?.digest,
          weights: digests(weights),
          toolchain: fp.value.digest,
          env: { MLC_INTERNAL_PRESHARD_NUM: this.env.MLC_INTERNAL_PRESHARD_NUM },
        };
        break;
      }
      case 'config': {
        const meta = dep(node.deps[0] as string);
        spec = genConfigStep(node, model, Object.keys(meta).map((n) => input(meta, n)));
        fields = {
          step: 'gen_config',
          quantization: node.quant,
          model_type: model.modelType,
          conv_template: model.convTemplate,
          options: node.options,
          files: digests(meta),
          toolchain: fp.value.digest,
        };
        break;
      }
      case 'compile': {
        const config = dep(node.config);
        const chat = config['mlc-chat-config.json'];
        if (!chat) return { kind: 'unavailable', reason: `${node.config} recorded no mlc-chat-config.json` };
        const target = this.targets.get(node.target) as Target;
        let relevant = this.relevantConfigs.get(chat.digest);
        if (!relevant) {
          relevant = readFile(chat.path, 'utf8').then((text) => compileRelevantConfig(JSON.parse(text) as Record<string, unknown>));
          this.relevantConfigs.set(chat.digest, relevant);
        }
        spec = compileStep(target, input(config, 'mlc-chat-config.json'), basename(node.library));
        fields = {
          step: 'compile',
          config: await relevant,
          device: target.device,
          host: target.host ?? (recipes().fixedHostDevices.includes(target.device) ? undefined : `${process.platform}-${process.arch}`),
          opt: target.opt,
          system_lib_prefix: target.systemLibPrefix,
          overrides: target.overrides,
          ext: target.ext,
          toolchain: fp.value.digest,
          env: Object.fromEntries(target.envReads.map((k) => [k, this.envValue(target, k)])),
          wasm_runtime: await this.wasmRuntimeDigest(target),
        };
        break;
      }
    }
    const key = keyOf(fields);
    // Fresh without the store: same key as last time and its outputs still in place in out/.
    const last = this.state.nodes[node.id];
    if (last?.key === key && last.outputs) {
      const record: ActionRecord = { key, node: node.id, outputs: last.outputs, durationMs: 0, createdAt: '' };
      if (await this.isPlaced(this.placements(node, this.recordFiles(record)))) return { kind: 'step', key, fields, spec, record, placed: true };
    }
    const found = await this.store.getRecord(key);
    const record = found && (await this.store.hasOutputs(found, { verify: this.opts.verify })) ? found : undefined;
    const placed = record ? await this.isPlaced(this.placements(node, this.recordFiles(record))) : false;
    return { kind: 'step', key, fields, spec, record, placed };
  }

  private async decideSource(part: 'meta' | 'weights', model: Model): Promise<Decision> {
    const s = model.source;
    switch (s.kind) {
      case 'local': {
        this.observedDirs.add(s.path);
        const files = await hashLocalPart(s.path, part, (p) => this.store.stats.digest(p, { verify: this.opts.verify }), model.download);
        if (!files.ok) return { kind: 'unavailable', reason: files.error };
        const fields = { source: 'local', part, rules: model.download, files: Object.fromEntries(Object.entries(files.value).map(([n, f]) => [n, f.digest])) };
        return { kind: 'source', files: files.value, key: keyOf(fields), fields };
      }
      case 'hf': {
        // Pinned in mlc.build.lock and present in the HF cache: no network at all.
        const entry = this.opts.update ? undefined : this.lock.sources[s.text];
        if (!entry?.commit) return { kind: 'fetch', reason: `revision ${s.revision}, not yet resolved` };
        const snapshot = join(repoFolder(hubCacheDir(this.env), s.repo), 'snapshots', entry.commit);
        const wanted = Object.entries(entry.files).filter(([name]) => (part === 'meta') === isMetaFile(name));
        const files: Files = {};
        for (const [name, pinned] of wanted) {
          // Through the snapshot's symlink to the blob itself: outputs are linked from real files.
          const path = await realpath(join(snapshot, name)).catch(() => undefined);
          const d = path && (await this.store.stats.digest(path, { verify: this.opts.verify }).catch(() => undefined));
          if (!path || !d || `sha256:${d.digest}` !== pinned) return { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet downloaded` };
          files[name] = { ...d, path };
        }
        if (wanted.length === 0) return { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet downloaded` };
        const fields = { source: s.text, commit: entry.commit, part, rules: model.download, files: digests(files) };
        return { kind: 'source', files, key: keyOf(fields), fields };
      }
      case 'git': {
        const entry = this.opts.update ? undefined : this.lock.sources[s.text];
        const rev = s.rev ?? 'HEAD';
        if (!entry?.commit) return { kind: 'fetch', reason: `${s.rev === undefined ? 'remote HEAD' : `revision ${rev}`}, not yet resolved` };
        const dir = gitCheckoutDir(this.store.root, s.url, entry.commit);
        const wanted = Object.entries(entry.files).filter(([name]) => (part === 'meta') === isMetaFile(name));
        const files: Files = {};
        for (const [name, pinned] of wanted) {
          const path = join(dir, name);
          const d = await this.store.stats.digest(path, { verify: this.opts.verify }).catch(() => undefined);
          if (!d || `sha256:${d.digest}` !== pinned) return { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet fetched` };
          files[name] = { ...d, path };
        }
        if (wanted.length === 0) return { kind: 'fetch', reason: `commit ${entry.commit.slice(0, 12)}, not yet fetched` };
        const fields = { source: s.text, commit: entry.commit, part, rules: model.download, files: digests(files) };
        return { kind: 'source', files, key: keyOf(fields), fields };
      }
    }
  }

  /**
   * Nodes that cannot run on this machine whatever happens upstream (a missing toolchain), with the
   * reason: reported once, before anything runs.
   */
  async preflight(selected: ReadonlySet<string>): Promise<Map<string, string>> {
    const blocked = new Map<string, string>();
    const steps = [...selected].filter((id) => this.graph.nodes.get(id)?.kind !== 'download');
    if (steps.length === 0) return blocked;
    const fp = await this.fingerprint();
    if (!fp.ok) for (const id of steps) blocked.set(id, fp.error);
    return blocked;
  }

  /** Downloads a hub or git source's part (resolving its revision unless pinned). */
  async fetch(node: StepNode & { kind: 'download' }, onProgress: (bytes: number, total: number) => void): Promise<Result<{ files: Files; key: string; fields: KeyFields }, string>> {
    const model = this.models.get(node.model) as Model;
    const s = model.source;
    if (s.kind === 'git') return this.serially(s.text, () => this.fetchGit(node));
    if (s.kind !== 'hf') return err(`${node.id}: a local folder is not fetched`);
    const token = await hubToken(this.env, this.opts.tokenFile);
    const hub = { endpoint: hubEndpoint(this.env), token, cacheDir: hubCacheDir(this.env), onProgress };
    const pinned = this.opts.update ? undefined : this.lock.sources[s.text];
    let resolution = this.resolutions.get(s.text);
    if (!resolution) {
      resolution = resolveRevision(s.repo, pinned?.commit ?? s.revision, hub);
      this.resolutions.set(s.text, resolution);
    }
    const resolved = await resolution;
    if (!resolved.ok) return resolved;
    const { commit, files: listing } = resolved.value;
    const digest = (p: string) => this.store.stats.digest(p);
    let index: { weight_map?: Record<string, string> } | undefined;
    if (node.part === 'weights') {
      // The index of the format that will be selected (safetensors when present), if the repository has it.
      const hasSafetensors = listing.some((f) => !f.path.includes('/') && f.path.endsWith('.safetensors'));
      const want = listing.find((f) => f.path === (hasSafetensors ? 'model.safetensors.index.json' : 'pytorch_model.bin.index.json'));
      if (want) {
        const got = await fetchFiles(s.repo, commit, [want], hub, digest);
        if (!got.ok) return got;
        try {
          index = JSON.parse(await readFile((got.value[want.path] as { path: string }).path, 'utf8')) as typeof index;
        } catch (e) {
          return err(`${s.repo}: ${want.path} is not valid JSON: ${(e as Error).message}`);
        }
      }
    }
    const selected = selectFiles(listing, node.part, index, model.download);
    if (!selected.ok) return err(`${s.repo}@${commit.slice(0, 12)}: ${selected.error}`);
    const fetched = await fetchFiles(s.repo, commit, selected.value, hub, digest);
    if (!fetched.ok) return fetched;
    await writeRef(hub.cacheDir, s.repo, s.revision, commit);
    const files: Files = {};
    for (const [name, f] of Object.entries(fetched.value)) {
      const was = pinned?.commit === commit ? pinned.files[name] : undefined;
      if (was !== undefined && was !== `sha256:${f.digest}`) {
        return err(`${s.repo}@${commit.slice(0, 12)}: ${name} differs from what mlc.build.lock pinned; refused (run mlc-build build --update to re-pin)`);
      }
      files[name] = f;
    }
    this.resolvedCommits.set(s.text, { commit, revision: s.revision });
    const fields = { source: s.text, commit, part: node.part, rules: model.download, files: digests(files) };
    return ok({ files, key: keyOf(fields), fields });
  }

  private readonly queues = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier call for the same key (git commands on one checkout). */
  private serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(key) ?? Promise.resolve()).then(fn, fn);
    this.queues.set(key, next.catch(() => undefined));
    return next;
  }

  private async fetchGit(node: StepNode & { kind: 'download' }): Promise<Result<{ files: Files; key: string; fields: KeyFields }, string>> {
    const s = (this.models.get(node.model) as Model).source;
    if (s.kind !== 'git') return err(`${node.id}: not a git source`);
    const pinned = this.opts.update ? undefined : this.lock.sources[s.text];
    const commit = pinned?.commit ? ok(pinned.commit) : await resolveGitRev(s.url, s.rev, this.env);
    if (!commit.ok) return commit;
    const dir = gitCheckoutDir(this.store.root, s.url, commit.value);
    const model = this.models.get(node.model) as Model;
    const got = await fetchGitPart(s.url, commit.value, s.rev, node.part, dir, this.env, (p) => this.store.stats.digest(p), model.download);
    if (!got.ok) return got;
    for (const [name, f] of Object.entries(got.value)) {
      const was = pinned?.commit === commit.value ? pinned.files[name] : undefined;
      if (was !== undefined && was !== `sha256:${f.digest}`) return err(`${s.url}@${commit.value.slice(0, 12)}: ${name} differs from what mlc.build.lock pinned; refused`);
    }
    this.resolvedCommits.set(s.text, { commit: commit.value, revision: s.rev ?? 'HEAD' });
    const files: Files = got.value;
    const fields = { source: s.text, commit: commit.value, part: node.part, rules: model.download, files: digests(files) };
    return ok({ files, key: keyOf(fields), fields });
  }

  recordFiles(record: ActionRecord): Files {
    return Object.fromEntries(Object.entries(record.outputs).map(([n, f]) => [n, { ...f, path: this.store.blobPath(f.digest) }]));
  }

  /** Where a node's outputs go in out/: weights into every folder of the model × quantization. */
  placements(node: StepNode, files: Files): Placement[] {
    const all = (dir: string) => Object.entries(files).map(([n, f]) => ({ dest: join(dir, n), digest: f.digest, src: f.path }));
    switch (node.kind) {
      case 'download':
        // A hub snapshot also appears in out/models/<model>/ (the seed's layout); local folders stay put.
        return this.models.get(node.model)?.source.kind !== 'local' ? all(this.graph.snapshotDirs.get(node.model) as string) : [];
      case 'convert':
        return (this.weightsFolders.get(`${node.model}/${node.quant}`) ?? []).flatMap(all);
      case 'config':
        return all(node.outDir);
      case 'compile':
        return Object.values(files).map((f) => ({ dest: node.library, digest: f.digest, src: f.path }));
    }
  }

  async isPlaced(placements: readonly Placement[]): Promise<boolean> {
    for (const p of placements) {
      try {
        if ((await this.store.stats.digest(p.dest, { verify: this.opts.verify })).digest !== p.digest) return false;
      } catch {
        return false;
      }
    }
    return true;
  }

  /** Folders whose listing this build's decisions read (source folders, toolchain search). */
  readonly observedDirs = new Set<string>();

  /** True once this build changed the project state (so a no-op build writes nothing). */
  stateChanged = false;

  /** Records a node's key; a source's fields too, a step's outputs (its fields are in the store). */
  noteKey(node: StepNode, key: string, fields: KeyFields, outputs?: Tree): void {
    const last = this.state.nodes[node.id];
    if (last?.key === key && (outputs === undefined || last.outputs !== undefined)) return;
    this.state.nodes[node.id] = node.kind === 'download' ? { key, fields } : { key, outputs };
    this.stateChanged = true;
  }

  /** The key fields of a node's last build, for explain and plan reasons. */
  async lastFields(nodeId: string): Promise<KeyFields | undefined> {
    const last = this.state.nodes[nodeId];
    if (!last) return undefined;
    return last.fields ?? (await this.store.getFields(last.key));
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

  async place(node: StepNode, placements: readonly Placement[]): Promise<void> {
    for (const p of placements) {
      const current = await this.store.stats.digest(p.dest).catch(() => undefined);
      if (current?.digest !== p.digest) {
        await place(p.src, p.dest);
        await this.store.stats.remember(p.dest, p.digest);
      }
    }
    this.notePlaced(node, placements);
  }

  stepEnv(target?: Target): NodeJS.ProcessEnv {
    return target && Object.keys(target.env).length > 0 ? { ...this.baseEnv, ...target.env } : this.baseEnv;
  }

  /** The value a step for `target` sees for one variable. */
  private envValue(target: Target, name: string): string | undefined {
    return target.env[name] ?? this.baseEnv[name];
  }

  /** webgpu compiles link web/dist/wasm/mlc_wasm_runtime.bc from MLC_LLM_SOURCE_DIR: its content counts. */
  private async wasmRuntimeDigest(target: Target): Promise<string | undefined> {
    if (!target.device.startsWith('webgpu')) return undefined;
    const dir = this.envValue(target, 'MLC_LLM_SOURCE_DIR');
    if (!dir) return undefined;
    const bc = join(dir, 'web/dist/wasm/mlc_wasm_runtime.bc');
    this.observedDirs.add(dirname(bc)); // its absence decides too
    return (await exists(bc)) ? (await this.store.stats.digest(bc)).digest : undefined;
  }

  /** Runs a step in a staging folder and records its outputs; nothing is recorded on failure. */
  async run(node: StepNode, key: string, fields: KeyFields, spec: StepSpec): Promise<Result<ActionRecord, StepFailure>> {
    const staging = await this.store.staging(node.id);
    const view = join(staging, 'in');
    const outDir = join(staging, 'out');
    const log = this.store.logPath(node.id);
    try {
      await mkdir(view, { recursive: true });
      await mkdir(outDir, { recursive: true });
      for (const f of spec.inputs) await linkInput(f.path, join(view, f.name));
      const target = node.kind === 'compile' ? this.targets.get(node.target) : undefined;
      const argv = [...this.toolchain.argv, ...spec.argv(view, spec.output === '' ? outDir : join(outDir, spec.output))];
      const started = Date.now();
      // The step's process group, so a later build can stop it if this one is killed (store.ts).
      const onSpawn = (pid: number) => writeFileSync(join(staging, STEP_PID_FILE), String(pid));
      const result = await runProcess(argv, { cwd: staging, env: this.stepEnv(target), log, onSpawn });
      const fail = async (message: string, extra: Partial<StepFailure> = {}) => ({ ok: false as const, error: { message, argv, log, tail: await tail(log, 20), ...extra } });
      if (result.spawnError) return fail(result.spawnError);
      if (result.code !== 0) return fail(result.signal ? `killed by ${result.signal}` : `exited with code ${result.code}`, { exitCode: result.code, signal: result.signal });
      const incomplete = await spec.check(outDir);
      if (incomplete) return fail(incomplete, { exitCode: 0 });
      for (const f of spec.inputs) {
        const seen = await stat(join(view, f.name)).catch(() => undefined);
        const now = await this.store.stats.digest(f.path).catch(() => undefined);
        if (!seen || now?.digest !== f.digest) return fail(`the step ${seen ? 'modified' : 'removed'} its input ${f.name}; nothing was recorded`, { exitCode: 0 });
      }
      const outputs = await this.store.ingestDir(outDir);
      const record: ActionRecord = { key, node: node.id, outputs, durationMs: Date.now() - started, createdAt: new Date().toISOString() };
      await this.store.putRecord(record, fields);
      return { ok: true, value: record };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

function digests(files: Files): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([n, f]) => [n, f.digest]));
}

/** Inputs appear in the step's view as hardlinks (mlc_llm's path logic stays in the view), else symlinks. */
async function linkInput(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch {
    await symlink(src, dest);
  }
}

async function tail(file: string, lines: number): Promise<string[]> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}
