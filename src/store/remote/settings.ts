// Which remote cache a command talks to, and with which credentials: the flag wins over the env,
// the env over the manifest. Credentials come only from the environment (a header, or userinfo in
// an env or flag URL); they are kept out of every message through `redact`.
import type { Timeouts } from '../../net/index.js';
import { err, ok, type Result } from '../../result.js';

export interface RemoteSettings {
  /** The server's base URL, without credentials and without a trailing slash. */
  base: string;
  /** How messages name the server: host:port, never credentials. */
  display: string;
  readOnly: boolean;
  /** Sent with every request (Authorization and the user's header). */
  headers: Record<string, string>;
  /** Results are signed with it, and unsigned or badly signed results are refused. */
  signingKey?: string;
  /** Every request: connecting, waiting for the answer, and no byte moving mid-transfer. */
  timeouts: Timeouts;
  /** A result the remote was seen to hold longer ago than this is checked again before it is trusted. */
  recheckAfterMs: number;
  /** Strings that must never be printed (header values, passwords, the signing key). */
  secrets: string[];
}

/** What the command line says: a URL, `--no-remote-cache` (false), or nothing. */
export interface RemoteFlags {
  remoteCache?: string | false;
  remoteCacheReadOnly?: boolean;
  /** `--remote-cache-timeouts connect=3s,first-byte=10s,idle=10s` (any of them). */
  remoteCacheTimeouts?: string;
}

/** The manifest's `remote_cache:`. */
export interface ManifestRemote {
  url: string;
  readOnly: boolean;
  /** The older single setting: first-byte and idle at once. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  idleTimeoutMs?: number;
  recheckAfterMs?: number;
}

/** Environment variables that hold the remote cache's secrets: never passed to steps. */
export const REMOTE_ENV = ['MLC_BUILD_REMOTE_CACHE', 'MLC_BUILD_REMOTE_HEADER', 'MLC_BUILD_REMOTE_SIGNING_KEY'];

/**
 * A few seconds each: a cache is worth asking only while it is quicker than building, and a
 * black-holed server costs a build one round of these (connect + first byte, 13 s), never more.
 */
export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 3_000, firstByteMs: 10_000, idleMs: 10_000 };
/** How long a result the remote was seen to hold is trusted without asking again (servers evict). */
export const DEFAULT_RECHECK_MS = 86_400_000;

export function remoteSettings(manifest: ManifestRemote | undefined, flags: RemoteFlags, env: NodeJS.ProcessEnv): Result<RemoteSettings | undefined, string> {
  if (flags.remoteCache === false) return ok(undefined);
  const fromFlag = typeof flags.remoteCache === 'string' && flags.remoteCache !== '' ? flags.remoteCache : undefined;
  const fromEnv = env.MLC_BUILD_REMOTE_CACHE ? env.MLC_BUILD_REMOTE_CACHE : undefined;
  const text = fromFlag ?? fromEnv ?? manifest?.url;
  if (text === undefined) return ok(undefined);
  const where = fromFlag ? '--remote-cache' : fromEnv ? 'MLC_BUILD_REMOTE_CACHE' : 'remote_cache.url';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return err(`${where}: not a URL (expected http://HOST:PORT/PATH or https://…)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return err(`${where}: ${url.protocol} is not supported; use http:// or https://`);
  const secrets: string[] = [];
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const basic = Buffer.from(`${user}:${pass}`).toString('base64');
    headers.authorization = `Basic ${basic}`;
    secrets.push(basic, url.password, pass, `${url.username}:${url.password}`);
    url.username = '';
    url.password = '';
  }
  const header = env.MLC_BUILD_REMOTE_HEADER;
  if (header) {
    const m = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(.*?)\s*$/.exec(header);
    if (!m) return err('MLC_BUILD_REMOTE_HEADER: expected "Name: value", e.g. "Authorization: Bearer TOKEN"');
    headers[(m[1] as string).toLowerCase()] = m[2] as string;
    secrets.push(m[2] as string, ...(m[2] as string).split(/\s+/).filter((w) => w.length >= 6));
  }
  const signingKey = env.MLC_BUILD_REMOTE_SIGNING_KEY || undefined;
  if (signingKey) secrets.push(signingKey);
  const timeouts = timeoutsOf(manifest, flags.remoteCacheTimeouts);
  if (!timeouts.ok) return timeouts;
  const readOnly = flags.remoteCacheReadOnly === true || truthy(env.MLC_BUILD_REMOTE_CACHE_READ_ONLY) || manifest?.readOnly === true;
  const base = url.toString().replace(/\/+$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return ok({
    base,
    display: `${url.hostname}:${port}`,
    readOnly,
    headers,
    ...(signingKey ? { signingKey } : {}),
    timeouts: timeouts.value,
    recheckAfterMs: manifest?.recheckAfterMs ?? DEFAULT_RECHECK_MS,
    secrets: secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length),
  });
}

/** The flag's phases win over the manifest's, a phase of its own over `timeout_ms`, and that over the defaults. */
function timeoutsOf(manifest: ManifestRemote | undefined, flag: string | undefined): Result<Timeouts, string> {
  const fromFlag: Result<Partial<Timeouts>, string> = flag === undefined ? ok({}) : parseTimeouts(flag);
  if (!fromFlag.ok) return fromFlag;
  const f = fromFlag.value;
  return ok({
    connectMs: f.connectMs ?? manifest?.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
    firstByteMs: f.firstByteMs ?? manifest?.firstByteTimeoutMs ?? manifest?.timeoutMs ?? DEFAULT_TIMEOUTS.firstByteMs,
    idleMs: f.idleMs ?? manifest?.idleTimeoutMs ?? manifest?.timeoutMs ?? DEFAULT_TIMEOUTS.idleMs,
  });
}

const PHASES: Record<string, keyof Timeouts> = { connect: 'connectMs', 'first-byte': 'firstByteMs', first_byte: 'firstByteMs', idle: 'idleMs' };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `connect=3s,first-byte=10s,idle=10s`: any of the phases, each in ms (a bare number) or s, m. */
export function parseTimeouts(text: string): Result<Partial<Timeouts>, string> {
  const out: Partial<Timeouts> = {};
  for (const part of text.split(',').filter((p) => p.trim() !== '')) {
    const [name = '', value = ''] = part.split('=').map((w) => w.trim());
    const phase = PHASES[name];
    if (phase === undefined) return err(`--remote-cache-timeouts: ${JSON.stringify(name)} is not a phase (connect, first-byte, idle)`);
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
    const ms = m ? Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 0) : 0;
    if (ms < 1) return err(`--remote-cache-timeouts: ${name}=${value} is not a duration (write it like 500ms, 3s or 3000)`);
    out[phase] = Math.round(ms);
  }
  return ok(out);
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** The text with every secret replaced: for messages that quote what a server or library said. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
