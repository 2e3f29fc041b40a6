import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { makePlan } from '../../exec/plan.js';
import type { Manifest, Model } from '../../manifest/types.js';
import { formatBytes } from '../../manifest/units.js';
import { recipes } from '../../recipes/index.js';
import { gitCheckoutDir } from '../../sources/git.js';
import { hubCacheDir, repoFolder } from '../../sources/hf.js';
import { isWeightFile } from '../../sources/files.js';
import { readLock, type Lock } from '../../sources/lock.js';
import { convertedBytes, gitChecks, HOST_COMMANDS, targetChecks, type Check, type HostFacts } from '../../toolchain/host-checks.js';
import { which } from '../../toolchain/fingerprint.js';
import { detectGpus } from '../../toolchain/host.js';
import { EXIT } from '../exit-codes.js';
import { load, openBuilder, type GlobalOptions } from '../context.js';

export function registerDoctor(program: Command, setExit: (code: number) => void): void {
  program
    .command('doctor')
    .description('check that this machine has what the manifest needs: toolchain, per-target host needs, git, disk')
    .action(async () => {
      const project = await load(program.opts<GlobalOptions>());
      if (!project) return setExit(EXIT.usage);
      const { manifest } = project;
      const sections: [string, Check[]][] = [];

      const builder = await openBuilder(project, { readOnly: true });
      const fp = await builder.fingerprint();
      const argv = project.toolchain.argv.join(' ');
      sections.push([
        'toolchain',
        [
          fp.ok
            ? { what: `mlc_llm (${argv})`, ok: true, detail: `fingerprint ${fp.value.digest.slice(0, 16)}${describeFacts(fp.value.facts)}` }
            : { what: `mlc_llm (${argv})`, ok: false, detail: fp.error },
        ],
      ]);

      const host = await hostFacts(manifest.root);
      const used = new Set(manifest.cells.map((c) => c.target));
      sections.push(['targets', manifest.targets.filter((t) => used.has(t.name)).flatMap((t) => targetChecks(t, host))]);

      if (manifest.models.some((m) => m.source.kind === 'git')) sections.push(['sources', gitChecks(gitVersions())]);

      const plan = await makePlan(builder, new Set(project.graph.nodes.keys()));
      await builder.store.close();
      sections.push(['disk', [await diskCheck(manifest, await readLock(manifest.root), plan.nodes.filter((n) => n.kind === 'convert' && n.state !== 'fresh' && n.state !== 'cached').map((n) => n.id))]]);

      let problems = 0;
      for (const [title, checks] of sections) {
        process.stdout.write(`${title}\n`);
        for (const c of checks) {
          process.stdout.write(`  ${c.ok ? '✓' : c.advice ? '!' : '✗'} ${c.what}: ${c.detail}\n`);
          if (!c.ok && !c.advice) problems++;
        }
      }
      process.stderr.write(problems === 0 ? 'mlc-build: this machine has everything the manifest needs\n' : `mlc-build: ${problems} ${problems === 1 ? 'thing' : 'things'} the manifest needs ${problems === 1 ? 'is' : 'are'} missing (✗ above)\n`);
      setExit(problems === 0 ? EXIT.ok : EXIT.stepFailed);
    });
}

function describeFacts(facts: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const mod of ['mlc_llm', 'tvm']) {
    const info = facts[mod] as { dists?: Record<string, { version: string; commit: string | null }> } | null | undefined;
    for (const [name, d] of Object.entries(info?.dists ?? {})) parts.push(`${name} ${d.version}${d.commit ? ` @${d.commit.slice(0, 8)}` : ''}`);
  }
  if (typeof facts.python === 'string') parts.push(`python ${facts.python}`);
  if (typeof facts.command === 'string') parts.push(`from \`${facts.command}\``);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** Facts about this machine; the commands the checks ask about are looked up on PATH first. */
async function hostFacts(cwd: string): Promise<HostFacts> {
  const found = new Set<string>();
  for (const cmd of HOST_COMMANDS) if (await which(cmd, cwd, process.env)) found.add(cmd);
  return { platform: process.platform, gpus: detectGpus(), env: process.env, onPath: (cmd) => found.has(cmd), exists: existsSync };
}

function gitVersions(): { git?: string; lfs?: string } {
  const version = (args: string[]) => {
    const r = spawnSync('git', args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().split('\n')[0] : undefined;
  };
  return { git: version(['--version']), lfs: version(['lfs', 'version']) };
}

/** Converted weights still to be written (source sizes × bits per weight) against the store's free space. */
async function diskCheck(manifest: Manifest, lock: Lock, converts: string[]): Promise<Check> {
  const models = new Map(manifest.models.map((m) => [m.id, m]));
  let need = 0;
  const unknown: string[] = [];
  for (const id of converts) {
    const [modelId, quant] = id.slice('convert:'.length).split('/') as [string, string];
    const folder = sourceFolder(models.get(modelId) as Model, manifest, lock);
    const bpw = recipes().quantizations.find((q) => q.name === quant)?.bits_per_weight_on_disk;
    const weights = folder ? weightBytes(folder) : undefined;
    if (weights === undefined || bpw === undefined) {
      unknown.push(modelId);
      continue;
    }
    need += convertedBytes(weights.bytes, weights.dtype, bpw);
  }
  const free = await freeSpace(manifest.cache);
  const what = `store ${manifest.cache}`;
  const unknownText = unknown.length > 0 ? `; not counted: ${[...new Set(unknown)].join(', ')} (not downloaded yet, sizes unknown)` : '';
  if (free === undefined) return { what, ok: true, advice: true, detail: `free space unknown; this plan writes about ${formatBytes(need)} of weights${unknownText}` };
  return {
    what,
    ok: need <= free,
    detail: `${formatBytes(free)} free; this plan writes about ${formatBytes(need)} of converted weights (${sized(converts.length, unknown.length)})${unknownText}`,
  };
}

function sized(conversions: number, unknown: number): string {
  const n = `${conversions} conversion${conversions === 1 ? '' : 's'} to run`;
  return unknown === 0 ? n : `${conversions - unknown} of ${n} sized`;
}

/** Where a model's source files are on this machine, if they are. */
function sourceFolder(model: Model, manifest: Manifest, lock: Lock): string | undefined {
  const s = model.source;
  switch (s.kind) {
    case 'local':
      return s.path;
    case 'hf': {
      const commit = lock.sources[s.text]?.commit;
      return commit ? join(repoFolder(hubCacheDir(process.env), s.repo), 'snapshots', commit) : undefined;
    }
    case 'git': {
      const commit = lock.sources[s.text]?.commit;
      return commit ? gitCheckoutDir(manifest.cache, s.url, commit) : undefined;
    }
  }
}

function weightBytes(folder: string): { bytes: number; dtype?: string } | undefined {
  let bytes = 0;
  try {
    for (const name of readdirSync(folder)) if (isWeightFile(name) && !name.endsWith('.json')) bytes += statSync(join(folder, name)).size;
  } catch {
    return undefined;
  }
  if (bytes === 0) return undefined;
  let dtype: string | undefined;
  try {
    dtype = (JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as { torch_dtype?: string }).torch_dtype;
  } catch {
    // no config.json: assume 16-bit
  }
  return { bytes, dtype };
}

async function freeSpace(path: string): Promise<number | undefined> {
  // The store may not exist yet: ask the nearest folder that does.
  for (let dir = path; ; dir = dirname(dir)) {
    if (existsSync(dir)) {
      const s = await statfs(dir).catch(() => undefined);
      return s ? s.bavail * s.bsize : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}
