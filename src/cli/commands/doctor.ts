import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { differingPins } from '../../toolchain/managed/environment.js';
import { makePlan } from '../../exec/plan.js';
import type { Manifest } from '../../manifest/types.js';
import { stepOf } from '../../steps/index.js';
import { installAdvice } from '../../recipes/index.js';
import { formatBytes } from '../../manifest/units.js';
import { gitChecks, hostFacts, targetChecks, type Check } from '../../toolchain/host-checks.js';
import { freeBytes } from '../../store/free-space.js';
import { RemoteCache } from '../../store/remote/remote-cache.js';
import type { RemoteSettings } from '../../store/remote/settings.js';
import { EXIT, openContext, type GlobalOptions } from '../../app/index.js';
import { load } from '../context.js';

export function registerDoctor(program: Command, setExit: (code: number) => void): void {
  program
    .command('doctor')
    .description('check that this machine has what the manifest needs: toolchain, per-target host needs, git, disk')
    .action(async () => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      const { manifest } = project;
      const sections: [string, Check[]][] = [];

      const ctx = await openContext(project, { readOnly: true });
      const fp = await ctx.fingerprint();
      const argv = project.toolchain.argv.join(' ');
      // Found is not enough: it must run (the seed's "Verify Installation": `mlc_llm --help`).
      const runs = fp.ok ? verifyToolchain(project.toolchain.argv, manifest.root) : undefined;
      sections.push([
        'toolchain',
        [
          !fp.ok
            ? { what: `mlc_llm (${argv})`, ok: false, detail: fp.error }
            : runs
              ? {
                  what: `mlc_llm (${argv})`,
                  ok: false,
                  detail: `${runs}; ${project.toolchain.from !== 'managed' ? installAdvice() : existsSync(project.toolchain.argv[0] as string) ? `the managed environment's mlc_llm does not work: remove ${dirname(dirname(project.toolchain.argv[0] as string))} and build again` : 'the managed toolchain is not installed here: mlc-build toolchain install (a build installs it too)'}`,
                }
              : { what: `mlc_llm (${argv})`, ok: true, detail: `runs; fingerprint ${fp.value.digest.slice(0, 16)}${describeFacts(fp.value.facts)}` },
          ...(project.toolchain.from === 'managed' && fp.ok && !runs ? [await managedCheck(project.toolchain.argv[0] as string, fp.value.facts)] : []),
        ],
      ]);

      const host = await hostFacts(manifest.root, process.env);
      const used = new Set(manifest.cells.map((c) => c.target));
      sections.push(['targets', manifest.targets.filter((t) => used.has(t.name)).flatMap((t) => targetChecks(t, host))]);

      if (manifest.models.some((m) => m.source.kind === 'git')) sections.push(['sources', gitChecks(gitVersions())]);

      const plan = await makePlan(ctx, new Set(project.graph.nodes.keys()));
      // What the steps still to run will write: the kinds that can say so before they run.
      const writes = plan.nodes.flatMap((n) => {
        const node = project.graph.nodes.get(n.id);
        const step = node && stepOf(node);
        if (!step?.bytesToWrite || n.state === 'fresh' || n.state === 'cached') return [];
        return [{ id: n.id, bytes: step.bytesToWrite(ctx) }];
      });
      await ctx.cache.flush();
      await ctx.store.close();
      sections.push(['disk', [await diskCheck(manifest, writes)]]);
      if (project.remote) sections.push(['remote cache', await remoteChecks(project.remote, manifest.cache)]);

      let problems = 0;
      for (const [title, checks] of sections) {
        process.stdout.write(`${title}\n`);
        for (const c of checks) {
          process.stdout.write(`  ${c.ok ? '✓' : c.advice ? '!' : '✗'} ${c.what}: ${c.detail}\n`);
          if (!c.ok && !c.advice) problems++;
        }
      }
      process.stderr.write(
        problems === 0
          ? 'mlc-build: this machine has everything the manifest needs\n'
          : `mlc-build: ${problems} ${problems === 1 ? 'thing' : 'things'} the manifest needs ${problems === 1 ? 'is' : 'are'} missing (✗ above)\n`,
      );
      setExit(problems === 0 ? EXIT.ok : EXIT.stepFailed);
    });
}

/** Whether the configured remote cache answers and (unless read-only) accepts writes. */
async function remoteChecks(settings: RemoteSettings, storeRoot: string): Promise<Check[]> {
  const remote = new RemoteCache(settings, { concurrency: 1, storeRoot });
  const probe = await remote.probe();
  await remote.close();
  const what = settings.display;
  return [
    probe.answers ? { what, ok: false, detail: `does not answer: ${probe.answers}` } : { what, ok: true, detail: 'answers' },
    ...(probe.answers
      ? []
      : [
          probe.writes === 'read-only'
            ? { what: 'uploads', ok: true, detail: 'read-only: this machine fetches, never uploads' }
            : probe.writes
              ? { what: 'uploads', ok: false, detail: `refused: ${probe.writes}` }
              : { what: 'uploads', ok: true, detail: 'accepts writes' },
        ]),
  ];
}

function describeFacts(facts: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const mod of ['mlc_llm', 'tvm']) {
    const info = facts[mod] as { dists?: Record<string, { version: string; commit: string | null }> } | null | undefined;
    for (const [name, d] of Object.entries(info?.dists ?? {})) parts.push(`${name} ${d.version}${d.commit ? ` @${d.commit.slice(0, 8)}` : ''}`);
  }
  const pinned = facts.packages as Record<string, string> | undefined;
  if (facts.managed === true && pinned) for (const [name, v] of Object.entries(pinned)) parts.push(`${name} ${v}`);
  if (typeof facts.python === 'string') parts.push(`python ${facts.python}`);
  if (typeof facts.command === 'string') parts.push(`from \`${facts.command}\``);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** Whether the managed environment holds what mlc.build.lock pins (someone may have pip-installed into it). */
async function managedCheck(mlcLlm: string, facts: Record<string, unknown>): Promise<Check> {
  const pinned = (facts.packages ?? {}) as Record<string, string>;
  const wrong = (
    await differingPins(
      dirname(dirname(mlcLlm)),
      Object.entries(pinned).map(([name, version]) => ({ name, version })),
      process.env,
    )
  ).map((p) => [p.name, p.version] as const);
  return wrong.length === 0
    ? { what: 'managed environment', ok: true, detail: 'matches mlc.build.lock' }
    : {
        what: 'managed environment',
        ok: false,
        detail: `differs from mlc.build.lock (${wrong.map(([n, v]) => `${n} ${v}`).join(', ')}): remove ${dirname(dirname(mlcLlm))} and build again`,
      };
}

/** Why `<toolchain> --help` does not work, or undefined when it prints its usage and exits 0. */
function verifyToolchain(argv: readonly string[], cwd: string): string | undefined {
  const r = spawnSync(argv[0] as string, [...argv.slice(1), '--help'], { cwd, encoding: 'utf8', timeout: 120_000 });
  // join() reads a missing stream (a command that could not start) as empty.
  const output = [r.stdout, r.stderr].join('\n');
  const lastLine = output.trim().split('\n').pop() ?? '';
  if (r.error) return `\`${argv.join(' ')} --help\` cannot be started (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  const missingModule = /No module named '?([\w.]+)'?/.exec(output);
  if (missingModule) return `\`${argv.join(' ')} --help\` fails: No module named ${missingModule[1]} (that Python has no mlc_llm)`;
  if (r.status !== 0) return `\`${argv.join(' ')} --help\` exits ${r.status ?? r.signal}: ${lastLine}`;
  if (!/usage/i.test(output)) return `\`${argv.join(' ')} --help\` printed no usage: ${lastLine}`;
  return undefined;
}

function gitVersions(): { git?: string; lfs?: string } {
  const version = (args: string[]) => {
    const r = spawnSync('git', args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().split('\n')[0] : undefined;
  };
  return { git: version(['--version']), lfs: version(['lfs', 'version']) };
}

/** Bytes the plan's steps still have to write (converted weights) against the store's free space. */
async function diskCheck(manifest: Manifest, writes: { id: string; bytes: number | undefined }[]): Promise<Check> {
  const need = writes.reduce((n, w) => n + (w.bytes ?? 0), 0);
  const unknown = [...new Set(writes.filter((w) => w.bytes === undefined).map((w) => w.id))];
  const free = await freeBytes(manifest.cache);
  const what = `store ${manifest.cache}`;
  const unknownText = unknown.length > 0 ? `; not counted: ${unknown.join(', ')} (not downloaded yet, sizes unknown)` : '';
  if (free === undefined)
    return { what, ok: true, advice: true, detail: `free space unknown; this plan writes about ${formatBytes(need)} of weights${unknownText}` };
  return {
    what,
    ok: need <= free,
    detail: `${formatBytes(free)} free; this plan writes about ${formatBytes(need)} of converted weights (${sized(writes.length, unknown.length)})${unknownText}`,
  };
}

function sized(conversions: number, unknown: number): string {
  const n = `${conversions} conversion${conversions === 1 ? '' : 's'} to run`;
  return unknown === 0 ? n : `${conversions - unknown} of ${n} sized`;
}
