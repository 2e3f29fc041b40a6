// The no-op stamp: after a complete, successful build (or a status that found everything fresh),
// the stat of every file its decisions read (sources, placed outputs, the toolchain, the web
// runtime, the project state), the listing of every folder it listed, what the host checks read
// (each path they looked at, found or not, and the GPUs), the manifest's digest, the environment,
// mlc-build's own code and what the command printed. If none of that changed (and no result the
// remote cache holds is due a re-check), the next run of the same request prints the same thing,
// known from stats alone, as ninja knows it, without loading the build code. It trusts stats
// exactly as the stat cache does.
//
// One stamp per request (command, selectors, --all-hosts, --json) and project. Every build that
// takes the full path deletes all of its project's stamps first; only a fully fresh or successful
// one writes its own. Losing a stamp costs one full no-op check, nothing else.
//
// This module is part of the fast path's bundle: it imports nothing of the build code.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, sep } from 'node:path';
import { detectGpus, type HostGpus } from '../toolchain/host.js';

const VERSION = 3;
/** Variables a shell changes between otherwise identical runs, and the trace switch; no step reads them. */
const VOLATILE_ENV = new Set(['_', 'OLDPWD', 'PWD', 'SHLVL', 'COLUMNS', 'LINES', 'TERM_SESSION_ID', 'WINDOWID', 'MLC_BUILD_NOOP_TRACE']);
/**
 * What identifies a file's content without reading it, the stat cache's rule (no ctime: our own
 * hardlinks change it): device, inode, size, mtime; null for a path that does not exist. Plain
 * numbers, compared as they are: the check makes thousands of them.
 */
export type StatKey = [dev: number, ino: number, size: number, mtimeMs: number] | null;
/** A path a host check looked at: its stat key and mode (whether it may be run), or null. */
export type ProbeKey = [dev: number, ino: number, size: number, mtimeMs: number, mode: number] | null;

/** What a command line asks, with what cannot change a no-op's result or output left out (-j, -k). */
export interface NoopRequest {
  command: 'build' | 'status';
  selectors: string[];
  /** --all-hosts or MLC_BUILD_ALL_HOSTS. */
  allHosts: boolean;
  json: boolean;
}

/** What the host checks of a host-aware command read: their answers decide what is skipped. */
export interface HostReads {
  /** Every path they looked at: each PATH candidate of a command they looked for (up to the one found), files they checked exist. */
  paths: string[];
  gpus: HostGpus;
}

/** What the command printed, in order; the time it took is filled in by whoever prints it. */
export type Printed =
  | { to: 'stdout' | 'stderr'; text: string }
  /** The time taken, as the build summary writes it (`27ms`, `1.2s`). */
  | { to: 'stderr'; took: true }
  /** The NDJSON summary event: its `ms` is the time taken. */
  | { to: 'stdout'; summary: Record<string, unknown> };

/**
 * A folder's stat key when it may vouch for its entries, else null. A folder's mtime changes
 * whenever an entry is added, removed or renamed, so while its key holds, each name in it is the
 * same file (inode) as before: a file whose inode was checked through another link needs no stat
 * of its own, and a listing is unchanged. Only a folder last changed well before the stamp was
 * written vouches (RACY_MS): a change in the same clock tick as the recorded mtime would not show.
 */
export type FolderKey = StatKey;

export interface Stamp {
  version: number;
  request: NoopRequest;
  root: string;
  manifest: string;
  env: string;
  /** The files the decisions read, by folder: the folder's key, and each file's key. */
  files: Record<string, [FolderKey, Record<string, StatKey>]>;
  /** Folders whose listing a decision read: the folder's key, and a digest of the listing. */
  dirs: Record<string, [FolderKey, string]>;
  host?: { paths: Record<string, ProbeKey>; gpus: string };
  /** Void from this time on (ms since the epoch): a result the remote cache was seen to hold is due a re-check. */
  until?: number;
  printed: Printed[];
}

/** How long before the stamp a folder must have last changed to vouch for its entries: coarse file-system clocks tick in up to 2 s (FAT). */
const RACY_MS = 2000;

/**
 * A digest of text that only has to tell a change (the manifest, the environment, a listing), not
 * resist an attacker: two 53-bit hashes (cyrb53, two seeds) in plain JavaScript, because loading
 * node:crypto alone costs the fast path more than all of its hashing.
 */
export function textDigest(text: string): string {
  const half = (seed: number) => {
    let h1 = 0xdeadbeef ^ seed;
    let h2 = 0x41c6ce57 ^ seed;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
  };
  return half(0) + half(1);
}

/** Where a request's stamps for a project live: one folder per project, one file per request. */
function stampFolder(root: string, env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'mlc-build', 'noop', textDigest(root));
}

export function stampPath(root: string, request: NoopRequest, env: NodeJS.ProcessEnv): string {
  return join(stampFolder(root, env), `${textDigest(JSON.stringify(request))}.json`);
}

export function envDigest(env: NodeJS.ProcessEnv): string {
  return textDigest(
    JSON.stringify(
      Object.keys(env)
        .filter((k) => !VOLATILE_ENV.has(k))
        .sort()
        .map((k) => [k, env[k]]),
    ),
  );
}

export function statKey(path: string): StatKey {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? [st.dev, st.ino, st.size, st.mtimeMs] : null;
  } catch {
    return null; // not a folder on the way, no permission: a path that cannot be read is as good as absent
  }
}

export function probeKey(path: string): ProbeKey {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? [st.dev, st.ino, st.size, st.mtimeMs, st.mode] : null;
  } catch {
    return null;
  }
}

/** Two keys are the same: compared field by field (no strings built per file). */
export function sameKey(a: readonly number[] | null, b: readonly number[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function listingKey(dir: string): string | undefined {
  try {
    return textDigest(readdirSync(dir).sort().join('\n'));
  } catch {
    return undefined;
  }
}

export function gpusKey(gpus: HostGpus): string {
  return JSON.stringify(gpus);
}

export interface StampInputs {
  /** Files the decisions read; one that did not exist when read (`absentWhenRead`) is recorded absent. */
  files: Iterable<string>;
  absentWhenRead: ReadonlySet<string>;
  dirs: Iterable<string>;
  host: HostReads | undefined;
}

/** The folder's key if it last changed before `before` (ms since the epoch), else null. */
function vouching(folder: string, before: number): FolderKey {
  const k = statKey(folder);
  return k !== null && k[3] < before ? k : null;
}

/** Writes the stamp; says why not when it cannot (something changed meanwhile). */
export function writeStamp(
  stamp: Omit<Stamp, 'version' | 'files' | 'dirs' | 'host'>,
  inputs: StampInputs,
  env: NodeJS.ProcessEnv,
): { written: true } | { written: false; why: string } {
  const before = Date.now() - RACY_MS;
  const files: Stamp['files'] = {};
  for (const f of inputs.files) {
    const k = statKey(f);
    if (k === null && !inputs.absentWhenRead.has(f)) return { written: false, why: `${f} vanished during the build` };
    const folder = dirname(f);
    (files[folder] ??= [vouching(folder, before), {}])[1][basename(f)] = k;
  }
  const dirs: Stamp['dirs'] = {};
  for (const d of inputs.dirs) {
    const folder = vouching(d, before);
    const k = listingKey(d);
    if (k === undefined) return { written: false, why: `the folder ${d} vanished during the build` };
    dirs[d] = [folder, k];
  }
  const host = inputs.host && { paths: Object.fromEntries(inputs.host.paths.map((p) => [p, probeKey(p)])), gpus: gpusKey(inputs.host.gpus) };
  const path = stampPath(stamp.root, stamp.request, env);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: VERSION, ...stamp, files, dirs, ...(host ? { host } : {}) } satisfies Stamp));
    renameSync(tmp, path);
  } catch (e) {
    // A stamp only saves time: a cache folder that cannot be written never fails the build.
    return { written: false, why: `cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  return { written: true };
}

/** Deletes every stamp of the project (a build that takes the full path, clean). */
export function deleteStamps(root: string, env: NodeJS.ProcessEnv): void {
  try {
    rmSync(stampFolder(root, env), { recursive: true, force: true });
  } catch {
    // A cache folder that cannot be written: its stamps stay, and answer only while every stat
    // they recorded holds, as any stamp does.
  }
}

/** Deletes the stamp of one request (a status that takes the full path). */
export function deleteStamp(root: string, request: NoopRequest, env: NodeJS.ProcessEnv): void {
  try {
    rmSync(stampPath(root, request, env), { force: true });
  } catch {
    // as deleteStamps
  }
}

/** What the stamp prints if it still holds, else why not (for MLC_BUILD_NOOP_TRACE). */
export function checkStamp(
  root: string,
  manifestFile: string,
  request: NoopRequest,
  env: NodeJS.ProcessEnv,
): { printed: Printed[]; stats: number } | { void: string } {
  const path = stampPath(root, request, env);
  let stamp: Stamp;
  const read = statKey(path);
  try {
    stamp = JSON.parse(readFileSync(path, 'utf8')) as Stamp;
  } catch {
    return { void: 'no stamp for this request' };
  }
  if (stamp.version !== VERSION || stamp.root !== root || JSON.stringify(stamp.request) !== JSON.stringify(request))
    return { void: 'the stamp is for another request' };
  if (stamp.env !== envDigest(env)) return { void: 'the environment changed' };
  if (stamp.until !== undefined && Date.now() >= stamp.until) return { void: 'results the remote cache holds are due a re-check' };
  try {
    if (stamp.manifest !== textDigest(readFileSync(manifestFile, 'utf8'))) return { void: 'the manifest changed' };
  } catch {
    return { void: 'the manifest cannot be read' };
  }
  if (stamp.host) {
    if (stamp.host.gpus !== gpusKey(detectGpus())) return { void: "the host's GPUs changed" };
    for (const [p, k] of Object.entries(stamp.host.paths)) if (!sameKey(probeKey(p), k)) return { void: `a host check's answer may have changed: ${p}` };
  }
  const checker = new TreeCheck(Date.now() - RACY_MS);
  const changed = checker.files(stamp.files) ?? checker.dirs(stamp.dirs);
  if (changed !== undefined) return { void: changed };
  if (checker.aged.size > 0) upgrade(path, read, stamp, checker.aged);
  return { printed: stamp.printed, stats: checker.stats };
}

/** Checks recorded files and listings with as few stats as the folders allow; notes folders that may vouch from now on. */
class TreeCheck {
  stats = 0;
  /** Folders without a key that have not changed since `before`: they may vouch in the next check. */
  readonly aged = new Map<string, StatKey>();
  /** Inodes seen unchanged through some link, by inode number: their keys. */
  private readonly inodes = new Map<number, StatKey>();
  /** Folders already asked about: whether their entries are as recorded. */
  private readonly folders = new Map<string, boolean>();

  constructor(private readonly before: number) {}

  /** Whether the folder's entries are as recorded (its key holds); a folder without a key may age into one. */
  private intact(folder: string, key: FolderKey): boolean {
    const known = this.folders.get(folder);
    if (known !== undefined) return known;
    this.stats++;
    const now = statKey(folder);
    if (key === null && now !== null && now[3] < this.before) this.aged.set(folder, now);
    const intact = key !== null && sameKey(now, key);
    this.folders.set(folder, intact);
    return intact;
  }

  /** The entry needs no stat of its own if its folder vouches: still absent, or an inode already checked. */
  private vouchable(k: StatKey): boolean {
    return k === null || sameKey(this.inodes.get(k[1]) ?? null, k);
  }

  /** What changed among the files, if anything. */
  files(files: Stamp['files']): string | undefined {
    for (const [folder, [key, entries]] of Object.entries(files)) {
      for (const [name, k] of Object.entries(entries)) {
        // The folder is asked (once) only when its answer spares this entry's stat.
        if (this.vouchable(k) && this.intact(folder, key)) continue;
        this.stats++;
        const path = folder.endsWith(sep) ? folder + name : folder + sep + name;
        if (!sameKey(statKey(path), k)) return `${path} changed`;
        if (k !== null) this.inodes.set(k[1], k);
      }
    }
    return undefined;
  }

  dirs(dirs: Stamp['dirs']): string | undefined {
    for (const [dir, [key, listing]] of Object.entries(dirs)) {
      if (this.intact(dir, key)) continue;
      if (listingKey(dir) !== listing) return `the folder ${dir} changed`;
    }
    return undefined;
  }
}

/**
 * Gives the stamp the keys of folders that aged since it was written (a build writes its stamp just
 * after placing files, when its folders are too fresh to vouch), so later checks stat less.
 * Skipped if the stamp was replaced or deleted meanwhile (a build started).
 */
function upgrade(path: string, read: StatKey, stamp: Stamp, aged: ReadonlyMap<string, StatKey>): void {
  for (const [folder, k] of aged) {
    const f = stamp.files[folder];
    if (f) f[0] = k;
    const d = stamp.dirs[folder];
    if (d) d[0] = k;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(stamp));
    if (sameKey(statKey(path), read)) renameSync(tmp, path);
    else rmSync(tmp, { force: true });
  } catch {
    rmSync(tmp, { force: true }); // the stamp's folder is gone (a build deleted it): nothing to upgrade
  }
}

export function manifestDigest(text: string): string {
  return textDigest(text);
}
