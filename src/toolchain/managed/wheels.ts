// The managed toolchain's pinned wheels, gathered into one folder that pip installs from with
// --no-index --require-hashes: first from the stash (the store's CAS, then the remote cache, found
// by the pins' sha256), then from the request's index and find_links with `pip download` (for
// another platform: its tags, wheels only). What came from the index goes into the stash, so a
// later machine, or this one after MLC deleted an old nightly, needs no index. When no place has
// a pinned wheel, one error names each missing wheel, where it was looked for, and the way out.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { canonicalJson } from '../../canonical-json.js';
import type { ToolchainPin } from '../../lockfile/lock-file.js';
import { HttpClient } from '../../net/index.js';
import { err, ok, type Result } from '../../result.js';
import { sha256 } from '../../store/hash.js';
import { pip, pipSourceArgs } from './pip.js';
import { indexPlaces, type InstallRequest } from './request.js';

/** Where pinned wheels are kept by sha256: the store's CAS and the remote cache (store/file-sets.ts). */
export interface WheelStash {
  /** The places it looks, in order, as messages name them. */
  readonly places: readonly string[];
  take(key: string, wanted: readonly { digest: string; name?: string }[], dir: string): Promise<{ placed: Map<string, string>; looked: Map<string, string[]> }>;
  keep(key: string, node: string, files: readonly { digest: string; name: string }[], dir: string, fields: Record<string, unknown>): Promise<void>;
  availability(digests: readonly string[]): Promise<Map<string, { store: boolean; remote?: boolean }>>;
}

/** The pins of one platform key of the lock. */
export interface WheelSet {
  platform: string;
  python: string;
  pins: readonly ToolchainPin[];
}

/** What identifies a pin: its file name is not part of it (a lock that learns it re-keys nothing). */
export function corePins(pins: readonly ToolchainPin[]): { name: string; version: string; sha256: string }[] {
  return pins.map((p) => ({ name: p.name, version: p.version, sha256: p.sha256 }));
}

/** The key of a wheel set in the store and in the remote cache: the toolchain's pins. */
export function wheelSetKey(set: WheelSet): string {
  return sha256(canonicalJson({ toolchain_wheels: 1, platform: set.platform, python: set.python, packages: corePins(set.pins) }));
}

/** A requirements file that installs exactly the pins (pip's hash-checking mode). */
export function requirementsText(pins: readonly ToolchainPin[]): string {
  return pins.map((p) => `${p.name}==${p.version} --hash=sha256:${p.sha256}\n`).join('');
}

/** The file name in a wheel's URL (pip's report gives file:// or https:// URLs, maybe with a #fragment). */
export function wheelFileName(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const last = new URL(url).pathname.split('/').at(-1);
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}

export interface GatherOptions {
  stash: WheelStash;
  request: InstallRequest;
  /** pip download's options for another platform (its tags and Python, wheels only). */
  crossArgs?: string[];
  /** A venv whose pip downloads what the stash lacks; asked for only then. */
  pipVenv: () => Promise<Result<string, string>>;
  env: NodeJS.ProcessEnv;
  projectRoot: string;
  signal?: AbortSignal;
  log: string;
  /** A folder of ours for pip's requirement files (not `dir`, which may be the user's). */
  work: string;
  say: (line: string) => void;
}

/**
 * Puts every pinned wheel of the set into `dir`, each checked against its sha256, and keeps the
 * set in the stash; the pins with their file names. An error names each wheel no place had.
 */
export async function gatherWheels(set: WheelSet, dir: string, opts: GatherOptions): Promise<Result<ToolchainPin[], string>> {
  await mkdir(dir, { recursive: true });
  const key = wheelSetKey(set);
  const { placed, looked } = await opts.stash.take(
    key,
    set.pins.map((p) => ({ digest: p.sha256, ...(p.file !== undefined ? { name: p.file } : {}) })),
    dir,
  );
  if (placed.size > 0) opts.say(`${placed.size} of ${set.pins.length} pinned wheels for ${set.platform} from ${opts.stash.places.join(' or ')}`);
  const missing = set.pins.filter((p) => !placed.has(p.sha256));
  if (missing.length > 0) {
    const index = `the index (${indexPlaces(opts.request).join(', ') || 'none: index_url is false and find_links is empty'})`;
    opts.say(`fetching ${missing.map((p) => `${p.name} ${p.version}`).join(', ')} from ${index}`);
    const why = await download(missing, dir, placed, opts);
    for (const p of missing) if (!placed.has(p.sha256)) looked.get(p.sha256)?.push(`${index}: ${why.get(p.sha256) ?? 'not there'}`);
    const still = missing.filter((p) => !placed.has(p.sha256));
    if (still.length > 0) return err(missingWheels(set, still, looked));
  }
  const files = set.pins.map((p) => ({ digest: p.sha256, name: placed.get(p.sha256) ?? '' }));
  await opts.stash.keep(key, `toolchain wheels ${set.platform}`, files, dir, {
    toolchain_wheels: 1,
    platform: set.platform,
    python: set.python,
    packages: corePins(set.pins),
  });
  return ok(set.pins.map((p) => ({ ...p, file: placed.get(p.sha256) ?? p.file })));
}

/**
 * `pip download` of the missing pins into `dir` (hash-checked by pip, then by us), adding what
 * arrived to `placed`. All at once first; if that fails, one by one, so each missing wheel gets
 * its own reason. Returns pip's reason for each pin that did not arrive.
 */
async function download(missing: readonly ToolchainPin[], dir: string, placed: Map<string, string>, opts: GatherOptions): Promise<Map<string, string>> {
  const why = new Map<string, string>();
  const venv = await opts.pipVenv();
  if (!venv.ok) {
    for (const p of missing) why.set(p.sha256, venv.error);
    return why;
  }
  const run = async (pins: readonly ToolchainPin[], tag: string): Promise<string | undefined> => {
    const requirements = join(opts.work, `${tag}-requirements.txt`);
    await writeFile(requirements, requirementsText(pins));
    const r = await pip(
      venv.value,
      ['download', '--no-deps', '--require-hashes', ...(opts.crossArgs ?? []), ...pipSourceArgs(opts.request), '-d', dir, '-r', requirements],
      { env: opts.env, projectRoot: opts.projectRoot, log: opts.log, say: opts.say, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    await identify(dir, missing, placed);
    return r.ok ? undefined : oneLine(r.error);
  };
  const failed = await run(missing, `download-${process.pid}`);
  if (failed === undefined) return why;
  const left = missing.filter((p) => !placed.has(p.sha256));
  if (left.length === 1 && left[0]) why.set(left[0].sha256, failed);
  else for (const p of left) why.set(p.sha256, (await run([p], `download-${process.pid}-one`)) ?? 'not there');
  return why;
}

/** Matches the files pip left in `dir` to the missing pins by their sha256. */
async function identify(dir: string, pins: readonly ToolchainPin[], placed: Map<string, string>): Promise<void> {
  const wanted = new Set(pins.filter((p) => !placed.has(p.sha256)).map((p) => p.sha256));
  if (wanted.size === 0) return;
  const known = new Set(placed.values());
  for (const name of await readdir(dir)) {
    if (known.has(name) || !(await stat(join(dir, name))).isFile()) continue;
    const digest = await hashOf(join(dir, name));
    if (wanted.has(digest)) placed.set(digest, name);
  }
}

async function hashOf(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/** The error when no place has some pinned wheels: each, where it was looked for, and the way out. */
export function missingWheels(set: WheelSet, missing: readonly ToolchainPin[], looked: ReadonlyMap<string, readonly string[]>): string {
  const lines = [`no place has ${missing.length === 1 ? 'a pinned wheel' : `${missing.length} pinned wheels`} of the toolchain for ${set.platform}:`];
  for (const p of missing) {
    lines.push(`  ${p.file ?? `${p.name} ${p.version} (its file name is not in the lock)`}  sha256:${p.sha256}  (${p.name} ${p.version}, ${set.platform})`);
    for (const where of looked.get(p.sha256) ?? []) lines.push(`    ${where}`);
  }
  lines.push(
    `  Re-pin to wheels that exist with \`mlc-build toolchain lock --update\`, or put ${missing.length === 1 ? 'the file' : 'these files'} in a folder named in toolchain.install.find_links (\`mlc-build toolchain export DIR\` on a machine that has them writes one)`,
  );
  return lines.join('\n');
}

/**
 * For `toolchain status`: whether the index has each pin's file, asked without downloading it:
 * a local find_links folder holds the file, a find_links page or the index's project page links to
 * it. Undefined where it cannot be told (no file name in the lock, or no answer).
 */
export async function indexAvailability(request: InstallRequest, pins: readonly ToolchainPin[]): Promise<Map<string, boolean | undefined>> {
  const out = new Map<string, boolean | undefined>();
  const client = new HttpClient({ timeouts: { connectMs: 5000, firstByteMs: 15_000, idleMs: 15_000 }, maxSockets: 4 });
  const pages = new Map<string, Promise<string | undefined>>();
  const page = (url: string): Promise<string | undefined> => {
    let got = pages.get(url);
    if (!got) {
      got = client.getSmall(url, { limit: 64 << 20 }).then((r) => (r.ok ? r.value.body.toString('utf8') : undefined));
      pages.set(url, got);
    }
    return got;
  };
  try {
    for (const p of pins) {
      const file = p.file;
      if (file === undefined) {
        out.set(p.sha256, undefined);
        continue;
      }
      const links = (text: string | undefined) => text?.includes(file) === true || text?.includes(encodeURIComponent(file)) === true;
      let found: boolean | undefined = false;
      const urls: string[] = [];
      for (const l of request.findLinks) {
        if (/^https?:\/\//.test(l)) urls.push(l);
        else if (
          await stat(join(l, file))
            .then((s) => s.isFile())
            .catch(() => false)
        )
          found = true;
      }
      if (request.indexUrl !== false) urls.push(`${(request.indexUrl ?? 'https://pypi.org/simple').replace(/\/+$/, '')}/${normalise(p.name)}/`);
      for (const u of urls) {
        if (found === true) break;
        const text = await page(u);
        if (links(text)) found = true;
        else if (text === undefined && found === false) found = undefined;
      }
      out.set(p.sha256, found);
    }
  } finally {
    client.close();
  }
  return out;
}

const normalise = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');
