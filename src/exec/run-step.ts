// Runs one step: its inputs linked into a view, its command in a staging folder (its own process
// group, its own stop signal), its outputs checked and its inputs re-checked, then recorded. Nothing
// is recorded on failure, and the staging folder is gone afterwards whatever happened.
import { writeFileSync } from 'node:fs';
import { link, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepNode } from '../graph/nodes.js';
import type { KeyFields } from '../keys.js';
import { err, type Result } from '../result.js';
import { stepOf, type Action } from '../steps/index.js';
import { STEP_PID_FILE, type ActionRecord } from '../store/store.js';
import type { BuildContext } from './context.js';
import { environmentFailure, type StepFailure } from '../failure.js';
import { runProcess } from './run-process.js';

export interface StopSignals {
  /** Stop the step (SIGTERM, then SIGKILL after a grace period). */
  signal: AbortSignal;
  /** Kill it at once. */
  kill?: AbortSignal;
}

export async function runStep(
  ctx: BuildContext,
  node: StepNode,
  key: string,
  fields: KeyFields,
  action: Action,
  stop: StopSignals,
): Promise<Result<ActionRecord, StepFailure>> {
  try {
    return await runInStaging(ctx, node, key, fields, action, stop);
  } catch (e) {
    // The staging folder, the log and the records are all in the store: a disk that refuses them is the store's.
    const failure = environmentFailure(e, `writing into the store ${ctx.store.root}`);
    if (failure) return err(failure);
    throw e;
  }
}

async function runInStaging(
  ctx: BuildContext,
  node: StepNode,
  key: string,
  fields: KeyFields,
  action: Action,
  stop: StopSignals,
): Promise<Result<ActionRecord, StepFailure>> {
  const step = stepOf(node);
  const staging = await ctx.store.staging(node.id);
  const view = join(staging, 'in');
  const outDir = join(staging, 'out');
  const log = ctx.store.logPath(node.id);
  try {
    await mkdir(view, { recursive: true });
    await mkdir(outDir, { recursive: true });
    for (const f of action.inputs) await linkInput(f.path, join(view, f.name));
    const name = step.outputName();
    const args = step.args(ctx, { input: (file) => (file === undefined ? view : join(view, file)), output: name === '' ? outDir : join(outDir, name) });
    if (!args) throw new Error(`${node.id}: its kind runs no command`);
    const argv = [...ctx.toolchain.argv, ...args];
    const started = Date.now();
    // The step's process group, so a later build can stop it if this one is killed (store.ts).
    const onSpawn = (pid: number) => writeFileSync(join(staging, STEP_PID_FILE), String(pid));
    const extra = step.env(ctx);
    const env = Object.keys(extra).length > 0 ? { ...ctx.stepEnv, ...extra } : ctx.stepEnv;
    const result = await runProcess(argv, { cwd: staging, env, log, onSpawn, signal: stop.signal, kill: stop.kill });
    const fail = async (message: string, extra: Partial<StepFailure> = {}) =>
      err<StepFailure>({ reason: 'step-failed', message, argv, log, tail: await tail(log, 20), ...extra });
    if (result.spawnError) return await fail(result.spawnError);
    if (result.stopped) return await fail('stopped', { reason: 'cancelled', exitCode: result.code, signal: result.signal });
    if (result.code !== 0)
      return await fail(result.signal ? `killed by ${result.signal}` : `exited with code ${result.code}`, { exitCode: result.code, signal: result.signal });
    const incomplete = await step.check(outDir);
    if (incomplete) return await fail(incomplete, { exitCode: 0 });
    for (const f of action.inputs) {
      const seen = await stat(join(view, f.name)).catch(() => undefined);
      const now = await ctx.store.stats.digest(f.path).catch(() => undefined);
      if (!seen || now?.digest !== f.digest)
        return await fail(`the step ${seen ? 'modified' : 'removed'} its input ${f.name}; nothing was recorded`, { exitCode: 0 });
    }
    const outputs = await ctx.store.ingestDir(outDir);
    // The log goes with the result (a remote cache serves it as the action's stdout); the copy in logs/ stays.
    const logDigest = await ctx.store.ingestCopy(log).catch(() => undefined);
    const facts = step.facts ? step.facts(await readFile(log, 'utf8').catch(() => '')) : undefined;
    const record: ActionRecord = {
      key,
      node: node.id,
      outputs,
      ...(logDigest ? { log: logDigest } : {}),
      ...(facts ? { facts } : {}),
      durationMs: Date.now() - started,
      createdAt: new Date().toISOString(),
    };
    await ctx.cache.record(record, fields);
    return { ok: true, value: record };
  } finally {
    await rm(staging, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  }
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
