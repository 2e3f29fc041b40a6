// The no-op stamp: after a complete, successful build, the stat of every file its decisions read
// (sources, placed outputs, the toolchain, the web runtime, the project state), the listing of
// every folder it listed, the manifest's digest, the environment, the arguments and mlc-build's own
// code. If none of that changed (and no result the remote cache holds is due a re-check), the next identical build is a no-op, known from stats alone, as
// ninja knows it, without loading the build code. It trusts stats exactly as the stat cache does.
// Every build that takes the full path deletes the stamp first; only a fully fresh or successful
// build writes one. Losing it costs one full no-op check, nothing else.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const VERSION = 1;
/** The command lines a stamp answers: a plain `mlc-build` and `mlc-build build`. */
export const STAMPED_ARGV: readonly (readonly string[])[] = [[], ['build']];
/** Variables a shell changes between otherwise identical runs; no step reads them. */
const VOLATILE_ENV = new Set(['_', 'OLDPWD', 'PWD', 'SHLVL', 'COLUMNS', 'LINES', 'TERM_SESSION_ID', 'WINDOWID']);

export interface Stamp {
  version: number;
  argv: string[];
  root: string;
  manifest: string;
  env: string;
  files: Record<string, string>;
  dirs: Record<string, string>;
  fresh: number;
  /** Void from this time on (ms since the epoch): a result the remote cache was seen to hold is due a re-check. */
  until?: number;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export function isStampedArgv(argv: readonly string[]): boolean {
  return STAMPED_ARGV.some((a) => a.length === argv.length && a.every((w, i) => w === argv[i]));
}

export function stampPath(root: string, env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'mlc-build', 'noop', `${sha(root).slice(0, 24)}.json`);
}

export function envDigest(env: NodeJS.ProcessEnv): string {
  return sha(
    JSON.stringify(
      Object.keys(env)
        .filter((k) => !VOLATILE_ENV.has(k))
        .sort()
        .map((k) => [k, env[k]]),
    ),
  );
}

/** What identifies a file's content without reading it (the stat cache's rule: no ctime). */
export function statKey(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.isDirectory() ? 'd' : 'f'}`;
  } catch {
    return undefined;
  }
}

export function listingKey(dir: string): string | undefined {
  try {
    return sha(readdirSync(dir).sort().join('\n'));
  } catch {
    return undefined;
  }
}

export function writeStamp(stamp: Omit<Stamp, 'version' | 'files' | 'dirs'>, files: Iterable<string>, dirs: Iterable<string>, env: NodeJS.ProcessEnv): void {
  const fileKeys: Record<string, string> = {};
  for (const f of files) {
    const k = statKey(f);
    if (k === undefined) return; // something vanished meanwhile: no stamp
    fileKeys[f] = k;
  }
  const dirKeys: Record<string, string> = {};
  for (const d of dirs) {
    const k = listingKey(d);
    if (k === undefined) return;
    dirKeys[d] = k;
  }
  const path = stampPath(stamp.root, env);
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: VERSION, ...stamp, files: fileKeys, dirs: dirKeys }));
  renameSync(tmp, path);
}

export function deleteStamp(root: string, env: NodeJS.ProcessEnv): void {
  rmSync(stampPath(root, env), { force: true });
}

/** The number of fresh steps if this run is a no-op by the stamp, else undefined. */
export function checkStamp(root: string, manifestFile: string, argv: readonly string[], env: NodeJS.ProcessEnv): number | undefined {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(stampPath(root, env), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
  if (stamp.version !== VERSION || stamp.root !== root || JSON.stringify(stamp.argv) !== JSON.stringify(argv)) return undefined;
  if (stamp.env !== envDigest(env)) return undefined;
  if (stamp.until !== undefined && Date.now() >= stamp.until) return undefined;
  try {
    if (stamp.manifest !== sha(readFileSync(manifestFile, 'utf8'))) return undefined;
  } catch {
    return undefined;
  }
  for (const [f, k] of Object.entries(stamp.files)) if (statKey(f) !== k) return undefined;
  for (const [d, k] of Object.entries(stamp.dirs)) if (listingKey(d) !== k) return undefined;
  return stamp.fresh;
}

export function manifestDigest(text: string): string {
  return sha(text);
}
