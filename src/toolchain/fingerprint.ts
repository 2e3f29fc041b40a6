// What the toolchain is, as content: asked of its Python (mlc_llm and TVM distributions, versions,
// VCS commits, digests of their native libraries), so a pip upgrade changes it even when the console
// script does not. A command with no Python behind it (a test double) is fingerprinted by its own
// digest. `toolchain.fingerprint: CMD` replaces all of this with CMD's output.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson } from '../canonical-json.js';
import { installAdvice } from '../recipes/index.js';
import { sha256 } from '../store/hash.js';
import type { StatCache } from '../store/stat-cache.js';
import { err, ok, type Result } from '../result.js';
import type { ToolchainCommand } from './command.js';

const run = promisify(execFile);

export interface Fingerprint {
  digest: string;
  /** What it was computed from, for `explain` and `doctor`. */
  facts: Record<string, unknown>;
  /** Folders whose listing decided it (PATH entries searched, package folders): for the no-op stamp. */
  folders: string[];
}

const PROBE = `
import json, os, sys, importlib.util
import importlib.metadata as md
out = {"python": sys.version.split()[0], "executable": sys.executable}
try:
    dists = md.packages_distributions()
except Exception:
    dists = {}
for mod in ("mlc_llm", "tvm"):
    spec = importlib.util.find_spec(mod)
    if spec is None:
        out[mod] = None
        continue
    roots = list(spec.submodule_search_locations or [os.path.dirname(spec.origin)])
    info = {"path": roots[0], "dists": {}}
    for name in sorted(set(dists.get(mod, []))):
        d = md.distribution(name)
        direct = d.read_text("direct_url.json")
        commit = json.loads(direct).get("vcs_info", {}).get("commit_id") if direct else None
        info["dists"][name] = {"version": d.version, "commit": commit}
    libs = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            libs += [os.path.join(dirpath, f) for f in files if f.endswith((".so", ".dylib", ".dll")) or ".so." in f]
    info["libs"] = sorted(libs)
    out[mod] = info
print(json.dumps(out))
`;

export async function fingerprintToolchain(
  cmd: ToolchainCommand,
  opts: { fingerprintCmd?: string; cwd: string; env: NodeJS.ProcessEnv; stats: StatCache },
): Promise<Result<Fingerprint, string>> {
  if (cmd.pinned) return ok(cmd.pinned);
  if (cmd.problem) return err(cmd.problem);
  if (opts.fingerprintCmd !== undefined) {
    try {
      const { stdout } = await run('/bin/sh', ['-c', opts.fingerprintCmd], { cwd: opts.cwd, env: opts.env, maxBuffer: 64 << 20 });
      return ok({ digest: sha256(stdout), facts: { command: opts.fingerprintCmd }, folders: [] });
    } catch (e) {
      return err(`toolchain.fingerprint command failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const folders: string[] = [];
  const exe = await which(cmd.argv[0] as string, opts.cwd, opts.env, folders);
  if (!exe) {
    return err(`${cmd.argv[0]} not found: ${installAdvice()}`);
  }
  const python = /^python[\d.]*$/.test(basename(exe)) ? exe : await shebangPython(exe, opts);
  if (python) {
    try {
      const { stdout } = await run(python, ['-c', PROBE], { cwd: opts.cwd, env: opts.env, maxBuffer: 64 << 20 });
      const probe = JSON.parse(stdout) as Record<string, { libs?: string[] } | null | string>;
      const libs: Record<string, string> = {};
      for (const mod of ['mlc_llm', 'tvm']) {
        const info = probe[mod] as { libs?: string[]; path?: string } | null | string;
        if (!info || typeof info !== 'object') continue;
        for (const lib of info.libs ?? []) libs[lib] = (await opts.stats.digest(lib)).digest;
        // A pip install or upgrade changes these listings (new dist-info, replaced files).
        if (info.path) folders.push(info.path, dirname(info.path));
      }
      const facts = { command: cmd.argv, ...probe, libDigests: libs };
      return ok({ digest: sha256(canonicalJson(facts)), facts, folders });
    } catch {
      // Not a Python we can ask: fall through to the executable's digest.
    }
  }
  const { digest } = await opts.stats.digest(exe);
  return ok({
    digest: sha256(canonicalJson({ command: cmd.argv, executable: digest })),
    facts: { command: cmd.argv, executable: exe, executableDigest: digest },
    folders,
  });
}

/** Resolves a command like the shell; `searched` collects the folders looked in, `tried` each path tried (up to the one found). */
export async function which(name: string, cwd: string, env: NodeJS.ProcessEnv, searched: string[] = [], tried: string[] = []): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [isAbsolute(name) ? name : resolve(cwd, name)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    if (!name.includes('/')) searched.push(dirname(c));
    tried.push(c);
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The interpreter of a console script (`#!/venv/bin/python3`, `#!/usr/bin/env python3`), if Python. */
async function shebangPython(exe: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string | undefined> {
  const handle = await open(exe, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buf, 0, 256, 0);
    head = buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
  const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(head);
  if (!m || !m[1]) return undefined;
  const interp = basename(m[1]) === 'env' && m[2] ? m[2] : m[1];
  if (!/python/.test(basename(interp))) return undefined;
  return interp.includes('/') ? interp : which(interp, opts.cwd, opts.env);
}
