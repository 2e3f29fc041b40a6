// What a CI job that compiles for webgpu sets up before `mlc-build build`: MLC's docs
// (install-web-build) require emscripten at a fixed version, activated, and the web runtime
// (web/dist/wasm/*.bc) that ./web/prep_emcc_deps.sh builds in an mlc-llm checkout, found by
// mlc_llm compile through MLC_LLM_SOURCE_DIR. A fresh runner has none of it. The checkout must be
// at the commit of the toolchain's mlc_llm (a runtime of another commit links against other
// symbols), which only the installed toolchain knows: the job asks it, and stops with the reason
// when it cannot say.
import type { Manifest, Target } from '../manifest/types.js';
import { ciRecipe } from '../recipes/index.js';

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
sys.exit("mlc-build: the mlc_llm of the toolchain does not record the mlc-llm commit it was built from, and webgpu needs the web runtime of that commit: install mlc_llm from source (as MLC docs require for webgpu), e.g. toolchain.install: [git+${ciRecipe().web_runtime.mlc_llm_repo}@COMMIT]")`;

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
