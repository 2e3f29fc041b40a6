// Which remote cache a command talks to, and with which credentials: the flag wins over the env,
// the env over the manifest. Credentials come only from the environment (a header, or userinfo in
// an env or flag URL); they are kept out of every message through `redact`.
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
  /** Idle time (no byte sent or received) and connect time after which a request fails. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Strings that must never be printed (header values, passwords, the signing key). */
  secrets: string[];
}

/** What the command line says: a URL, `--no-remote-cache` (false), or nothing. */
export interface RemoteFlags {
  remoteCache?: string | false;
  remoteCacheReadOnly?: boolean;
}

/** The manifest's `remote_cache:`. */
export interface ManifestRemote {
  url: string;
  readOnly: boolean;
  timeoutMs?: number;
}

/** Environment variables that hold the remote cache's secrets: never passed to steps. */
export const REMOTE_ENV = ['MLC_BUILD_REMOTE_CACHE', 'MLC_BUILD_REMOTE_HEADER', 'MLC_BUILD_REMOTE_SIGNING_KEY'];

const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_CONNECT_MS = 5_000;

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
  const readOnly = flags.remoteCacheReadOnly === true || truthy(env.MLC_BUILD_REMOTE_CACHE_READ_ONLY) || manifest?.readOnly === true;
  const base = url.toString().replace(/\/+$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return ok({
    base,
    display: `${url.hostname}:${port}`,
    readOnly,
    headers,
    ...(signingKey ? { signingKey } : {}),
    idleTimeoutMs: manifest?.timeoutMs ?? DEFAULT_IDLE_MS,
    connectTimeoutMs: Math.min(DEFAULT_CONNECT_MS, manifest?.timeoutMs ?? DEFAULT_CONNECT_MS),
    secrets: secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length),
  });
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
