// What a CI job that compiles for webgpu sets up before `mlc-build build`: MLC's docs
// (install-web-build) require emscripten at a fixed version, activated, and the web runtime
// (web/dist/wasm/*.bc) that ./web/prep_emcc_deps.sh builds in an mlc-llm checkout, found by
// mlc_llm compile through MLC_LLM_SOURCE_DIR. A fresh runner has none of it. The checkout must be
// at the commit of the toolchain's mlc_llm (a runtime of another commit links against other
// symbols), which only the installed toolchain knows: the job asks it, and stops with the reason
// when it cannot say. So that it can say, `ci init` refuses webgpu cells of a managed toolchain
// whose install names no mlc-llm commit (webRuntimeCommit).
import type { ToolchainPin } from '../lockfile/lock-file.js';
import { error, type Diagnostic } from '../manifest/diagnostic.js';
import type { Cell, Manifest, Target } from '../manifest/types.js';
import { ciRecipe } from '../recipes/index.js';
import { err, ok, type Result } from '../result.js';

/** Where the job puts emsdk and the mlc-llm checkout, under the job's working folder. */
const WORK = '.mlc-build-web';

/** Whether a target's compiles need the web runtime (MLC's webgpu device). */
export function needsWebRuntime(target: Target | undefined): boolean {
  return target?.device === 'webgpu';
}

export function manifestNeedsWebRuntime(manifest: Manifest): boolean {
  const targets = new Map(manifest.targets.map((t) => [t.name, t]));
  return manifest.cells.some((c) => needsWebRuntime(targets.get(c.target)));
}

// The commit of the toolchain's mlc_llm, from its distribution: a VCS install records it in
// direct_url.json (pip install git+…@COMMIT), a source build's version carries it as +g<hash>.
const COMMIT_PROBE = `import importlib.metadata as md, json, re, sys
for d in md.distributions():
    if not (d.metadata["Name"] or "").lower().replace("_", "-").startswith("mlc-llm"):
        continue
    direct = json.loads(d.read_text("direct_url.json") or "{}")
    local = re.search(r"\\+g([0-9a-f]{7,40})", d.version)
    commit = direct.get("vcs_info", {}).get("commit_id") or (local and local.group(1))
    if commit:
        print(commit)
        sys.exit(0)
sys.exit("mlc-build: the mlc_llm of the toolchain does not record the mlc-llm commit it was built from, and webgpu needs the web runtime of that commit: install mlc_llm from source (as MLC docs require for webgpu), e.g. toolchain: { install: { packages: [git+${ciRecipe().web_runtime.mlc_llm_repo}@COMMIT] } }")`;

/** Sets up emsdk at MLC's version and activates it for this shell. */
export function emsdkScript(): string[] {
  const { emsdk_version: version, emsdk_repo: repo } = ciRecipe().web_runtime;
  return [
    `git clone --depth 1 ${repo} "$PWD/${WORK}/emsdk"`,
    `"$PWD/${WORK}/emsdk/emsdk" install ${version}`,
    `"$PWD/${WORK}/emsdk/emsdk" activate ${version}`,
    `. "$PWD/${WORK}/emsdk/emsdk_env.sh"`,
  ];
}

/** Checks out mlc-llm at the toolchain's commit, builds its web runtime and exports MLC_LLM_SOURCE_DIR (needs emsdk active). */
export function webRuntimeScript(): string[] {
  const { mlc_llm_repo: repo } = ciRecipe().web_runtime;
  return [
    'MLC_LLM_BIN="$(npx mlc-build toolchain path)"',
    // The managed toolchain is a venv: its Python sits next to mlc_llm; an installed one is python3's.
    'MLC_LLM_PYTHON="$(dirname "$MLC_LLM_BIN")/python"; [ -x "$MLC_LLM_PYTHON" ] || MLC_LLM_PYTHON=python3',
    `MLC_LLM_COMMIT="$("$MLC_LLM_PYTHON" -c '${COMMIT_PROBE.replaceAll("'", `'"'"'`)}')"`,
    `export MLC_LLM_SOURCE_DIR="$PWD/${WORK}/mlc-llm"`,
    `git clone ${repo} "$MLC_LLM_SOURCE_DIR"`,
    'git -C "$MLC_LLM_SOURCE_DIR" checkout "$MLC_LLM_COMMIT"',
    'git -C "$MLC_LLM_SOURCE_DIR" submodule update --init --recursive',
    '(cd "$MLC_LLM_SOURCE_DIR" && ./web/prep_emcc_deps.sh)',
  ];
}

/** How the webgpu jobs `ci init` writes will know the mlc-llm commit of their web runtime. */
export type WebRuntimeCommit =
  | { kind: 'not-needed' }
  /** `by`: the package of toolchain.install or the pin of mlc.build.lock that names it. */
  | { kind: 'pinned'; commit: string; by: string }
  /** No toolchain.install: each runner's own mlc_llm decides; `note` says what it must be. */
  | { kind: 'unmanaged'; note: string };

const HEX_COMMIT = /^[0-9a-f]{7,40}$/;
/** A source build's local version: `0.1.dev0+g1a2b3c4` (setuptools-scm; `.d<date>` may follow). */
const LOCAL_COMMIT = /\+g([0-9a-f]{7,40})(?![0-9a-z])/;

/** What a `toolchain.install` package says of the mlc-llm commit: a commit, a ref that is not one, or nothing. */
function commitOfPackage(requirement: string): { commit: string } | { notACommit: string } | undefined {
  const text = requirement.trim();
  // `git+https://github.com/mlc-ai/mlc-llm[.git][@REF][#subdirectory=…]`, alone or as `name @ git+…`.
  const repo = ciRecipe()
    .web_runtime.mlc_llm_repo.replace(/^https:\/\//, '')
    .replaceAll('.', '\\.');
  const git = new RegExp(`^(?:[A-Za-z0-9._-]+\\s*@\\s*)?git\\+https://${repo}(?:\\.git)?(?:@([^#]*))?(?:#.*)?$`, 'i').exec(text);
  if (git) {
    const ref = git[1] ?? '';
    return HEX_COMMIT.test(ref) ? { commit: ref } : { notACommit: ref };
  }
  // A wheel file or URL (`mlc_llm-0.1.dev0+g1a2b3c4-cp311-….whl`), or `mlc-llm==0.1.dev0+g1a2b3c4`.
  const file =
    text
      .replace(/[#?].*$/, '')
      .split(/[/\\]/)
      .pop() ?? '';
  const wheel = /^(mlc[_-]llm[^-]*)-([^-]+)-.*\.whl$/i.exec(file.replace(/%2B/gi, '+'));
  const pinned = /^(mlc[-_.]llm[\w.-]*)\s*===?\s*([^\s;]+)/i.exec(text);
  const version = (wheel ?? pinned)?.[2];
  const local = version === undefined ? undefined : LOCAL_COMMIT.exec(version);
  return local?.[1] !== undefined ? { commit: local[1] } : undefined;
}

const isMlcLlm = (name: string) => name.toLowerCase().replace(/[_.]/g, '-').startsWith('mlc-llm');

/**
 * Whether the webgpu jobs `ci init` would write can know the commit to build the web runtime at,
 * before any runner starts: from a `toolchain.install` package (a git+ URL of mlc-llm at a hex
 * commit, a wheel whose version carries `+g<commit>`) or a pin of mlc.build.lock. A managed
 * toolchain that names none (`install: nightly`, a branch) is refused: its jobs could only stop.
 */
export function webRuntimeCommit(manifest: Manifest, lockPins: readonly ToolchainPin[]): Result<WebRuntimeCommit, Diagnostic> {
  const targets = manifest.targets.filter(needsWebRuntime);
  const cells = manifest.cells.filter((c) => targets.some((t) => t.name === c.target));
  if (cells.length === 0) return ok({ kind: 'not-needed' });
  const webgpu = `the webgpu cells (${describeCells(targets, cells)})`;
  const repo = ciRecipe().web_runtime.mlc_llm_repo;
  const install = manifest.toolchain.install;
  if (install === undefined) {
    return ok({
      kind: 'unmanaged',
      note: `${webgpu} build the web runtime at the mlc-llm commit of the runner's mlc_llm: every runner that builds them needs an mlc_llm built from source that records it (pip install git+${repo}@COMMIT, or a version with +g<commit>), else the job stops`,
    });
  }
  const branches: string[] = [];
  for (const p of install.packages) {
    const found = commitOfPackage(p);
    if (found && 'commit' in found) return ok({ kind: 'pinned', commit: found.commit, by: p });
    if (found)
      branches.push(found.notACommit === '' ? `${p} names no commit (the default branch)` : `${p} names ${found.notACommit}, a branch or tag, not a commit`);
  }
  // A branch is refused even when the lock holds a build of it: the web runtime's checkout follows the branch.
  const pin = branches.length > 0 ? undefined : lockPins.find((q) => isMlcLlm(q.name) && LOCAL_COMMIT.test(q.version));
  const pinCommit = pin === undefined ? undefined : LOCAL_COMMIT.exec(pin.version)?.[1];
  if (pin && pinCommit !== undefined) return ok({ kind: 'pinned', commit: pinCommit, by: `${pin.name} ${pin.version} (mlc.build.lock)` });
  const given = install.nightly
    ? "toolchain.install: nightly does not name one (MLC's nightly wheels record no commit)"
    : branches.length > 0
      ? `toolchain.install's ${branches.join('; ')} (the jobs would build the web runtime of whatever it is when they run)`
      : `toolchain.install's packages (${install.packages.join(', ')}) name none (no git+${repo}@<commit>, no version with +g<commit>)`;
  return err(
    error(
      `ci init: ${webgpu} need the web runtime built at the mlc-llm commit of the toolchain's mlc_llm, and ${given}, so their jobs could only stop at run time; nothing written. ` +
        `Fix: pin mlc_llm at a commit, toolchain: { install: { packages: [git+${repo}@COMMIT] } }, or remove webgpu from targets`,
      manifest.source.locate(['toolchain', 'install']),
    ),
  );
}

/** `target webgpu: a/q4f16_1/webgpu, b/q4f16_1/webgpu`, at most a few cells named. */
function describeCells(targets: readonly Target[], cells: readonly Cell[]): string {
  const shown = cells.slice(0, 4).map((c) => c.id);
  const more = cells.length > shown.length ? `, and ${cells.length - shown.length} more` : '';
  const used = targets.filter((t) => cells.some((c) => c.target === t.name)).map((t) => t.name);
  return `target${used.length === 1 ? '' : 's'} ${used.join(', ')}: ${shown.join(', ')}${more}`;
}
