// Wheels made by hand for tests of the managed toolchain: a wheel is a zip with METADATA, WHEEL,
// RECORD (and entry_points.txt for console scripts), so no build backend is needed. The
// mlc-llm-nightly-cpu here has an `mlc_llm` console script that runs the repository's test double.
// A wheel's bytes follow from its spec alone (fixed timestamps), so each is made once per test file
// and copied into every folder that asks for it.
import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './cli.js';
import { DOUBLE } from './project.js';

const MAKE = `
import base64, hashlib, json, os, sys, zipfile
spec = json.loads(sys.argv[1])
name, version = spec["name"], spec["version"]
dist = name.replace("-", "_")
info = f"{dist}-{version}.dist-info"
files = dict(spec["files"])
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n" + "".join(f"Requires-Dist: {r}\\n" for r in spec.get("requires", []))
files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: mlc-build-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
if spec.get("entry_points"):
    files[f"{info}/entry_points.txt"] = spec["entry_points"]
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
out = os.path.join(spec["dir"], f"{dist}-{version}-py3-none-any.whl")
with zipfile.ZipFile(out, "w") as z:
    for path, text in files.items():
        z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
print(out)
`;

export interface WheelSpec {
  name: string;
  version: string;
  files: Record<string, string>;
  requires?: string[];
  entryPoints?: string;
}

/** Spec (as JSON) → the wheel made from it in a folder of its own. */
const made = new Map<string, Promise<string>>();

async function build(spec: string): Promise<string> {
  const dir = await tempDir('mlc-build-wheel-');
  const { stdout } = await promisify(execFile)('python3', ['-c', MAKE, JSON.stringify({ ...(JSON.parse(spec) as object), dir })]);
  return stdout.trim();
}

export async function makeWheel(dir: string, spec: WheelSpec): Promise<string> {
  const key = JSON.stringify({ name: spec.name, version: spec.version, files: spec.files, requires: spec.requires ?? [], entry_points: spec.entryPoints });
  let wheel = made.get(key);
  if (!wheel) {
    wheel = build(key);
    made.set(key, wheel);
  }
  await mkdir(dir, { recursive: true });
  const file = join(dir, basename(await wheel));
  await copyFile(await wheel, file);
  return file;
}

/** mlc-ai-nightly-cpu (a tiny `tvm`) and mlc-llm-nightly-cpu (an `mlc_llm` that runs the double). */
export async function mlcWheels(dir: string, versions: { mlcLlm: string; tvm: string }, extra = ''): Promise<{ mlcLlm: string; tvm: string }> {
  const tvm = await makeWheel(dir, {
    name: 'mlc-ai-nightly-cpu',
    version: versions.tvm,
    files: { 'tvm/__init__.py': `__version__ = ${JSON.stringify(versions.tvm)}\n` },
  });
  const cli = `import os, sys\n\ndef main():\n    os.execv(${JSON.stringify(process.execPath)}, [${JSON.stringify(process.execPath)}, ${JSON.stringify(DOUBLE)}] + sys.argv[1:])\n${extra}`;
  const mlcLlm = await makeWheel(dir, {
    name: 'mlc-llm-nightly-cpu',
    version: versions.mlcLlm,
    files: { 'mlc_llm/__init__.py': '', 'mlc_llm/cli.py': cli },
    requires: ['mlc-ai-nightly-cpu'],
    entryPoints: '[console_scripts]\nmlc_llm = mlc_llm.cli:main\n',
  });
  return { mlcLlm, tvm };
}
