// `mlc-build init [hf://ORG/NAME | PATH]…`: a starting mlc.build.yaml for the given models (their
// config.json read from the folder, or fetched from the hub with the build's client and token
// rules), the conv template of each model's family, and the targets this host can build.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { resolveManifest } from '../../manifest/load.js';
import { ManifestSource } from '../../manifest/source.js';
import { parseSource } from '../../manifest/source-spec.js';
import { chooseConvTemplate, modelIdFor, starterManifest, type StarterModel, type StarterTarget } from '../../manifest/starter.js';
import { err, ok, type Result } from '../../result.js';
import { fetchFiles, hubCacheDir, hubEndpoint, hubToken, resolveRevision } from '../../sources/hf.js';
import { readLocalConfig } from '../../sources/local.js';
import { hashFile } from '../../store/hash.js';
import { hostFacts, missingFor } from '../../toolchain/host-checks.js';
import { EXIT, type GlobalOptions } from '../../app/index.js';

/** The seed's platforms, in its order: what a new manifest offers. */
const STARTER_TARGETS = ['android', 'iphone', 'cuda', 'vulkan', 'vulkan-windows', 'metal', 'metal-x86_64', 'webgpu'];

export function registerInit(program: Command, setExit: (code: number) => void): void {
  program
    .command('init')
    .description('write a starting mlc.build.yaml for the given models (hf://ORG/NAME or a local folder)')
    .argument('[sources...]', 'hf://ORG/NAME[@rev] or a folder with config.json')
    .option('--force', 'overwrite an existing mlc.build.yaml')
    .action(async (sources: string[], opts: { force?: boolean }) => {
      const cwd = process.cwd();
      const file = join(cwd, 'mlc.build.yaml');
      if (existsSync(file) && !opts.force) {
        process.stderr.write(`mlc-build: ${file} exists; not overwriting it (--force does)\n`);
        setExit(EXIT.usage);
        return;
      }
      const models: StarterModel[] = [];
      const ids = new Set<string>();
      for (const text of sources) {
        const spec = parseSource(text, cwd);
        if (typeof spec === 'string') {
          fail(spec);
          return;
        }
        const config = await readConfig(spec, program.opts<GlobalOptions>().tokenFile);
        if (!config.ok) {
          fail(`${text}: ${config.error}`);
          return;
        }
        let id = modelIdFor(spec.kind === 'local' ? spec.path : text);
        for (let n = 2; ids.has(id); n++) id = `${modelIdFor(text)}-${n}`;
        ids.add(id);
        const source = spec.kind === 'local' ? localSourceText(cwd, spec.path) : text;
        models.push({ id, source, conv: chooseConvTemplate(config.value as { model_type?: unknown; vocab_size?: unknown }, `${id} ${text}`) });
      }
      const targets = await starterTargets(cwd);
      const text = starterManifest(models, targets, schemaReference(cwd, runningSchema()));
      // What it writes must load: check it as `plan` would, before it lands on disk.
      const src = ManifestSource.parse(file, text);
      const loaded = src.ok ? resolveManifest(src.value) : src;
      if (!loaded.ok) throw new Error(`init wrote a manifest that does not load: ${loaded.error.map((d) => d.message).join('; ')}`);
      await writeFile(file, text);
      const built = targets.filter((t) => t.missing === undefined).map((t) => t.name);
      process.stderr.write(
        `mlc-build: wrote ${relative(cwd, file)}: ${models.length === 0 ? 'an example model' : `${models.length} model${models.length === 1 ? '' : 's'}`}, targets ${built.join(', ') || 'none'} (the rest are commented out: this host cannot build them)\n`,
      );
      for (const m of models) if (!m.conv.sure) process.stderr.write(`mlc-build: ${m.id}: conv_template ${m.conv.template} is a guess (${m.conv.why})\n`);
      process.stderr.write('mlc-build: next: `mlc-build plan` shows every step; `mlc-build` builds\n');

      function fail(message: string): void {
        process.stderr.write(`mlc-build: ${message}\n`);
        setExit(EXIT.usage);
      }
    });
}

async function readConfig(spec: Exclude<ReturnType<typeof parseSource>, string>, tokenFile: string | undefined): Promise<Result<unknown, string>> {
  switch (spec.kind) {
    case 'local':
      return readLocalConfig(spec.path);
    case 'hf': {
      const env = process.env;
      const hub = { endpoint: hubEndpoint(env), token: await hubToken(env, tokenFile), cacheDir: hubCacheDir(env) };
      const resolved = await resolveRevision(spec.repo, spec.revision, hub);
      if (!resolved.ok) return resolved;
      const config = resolved.value.files.find((f) => f.path === 'config.json');
      if (!config) return err('the repository has no config.json');
      const got = await fetchFiles(spec.repo, resolved.value.commit, [config], hub, hashFile);
      if (!got.ok) return got;
      try {
        return ok(JSON.parse(await readFile((got.value['config.json'] as { path: string }).path, 'utf8')) as unknown);
      } catch (e) {
        return err(`config.json is not valid JSON: ${(e as Error).message}`);
      }
    }
    case 'git':
      return err('init reads hf:// sources and local folders; add a git+ source to the manifest by hand');
  }
}

function localSourceText(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? path : `./${rel}`;
}

/** The seed's platforms, each with what this host lacks to build it. */
async function starterTargets(cwd: string): Promise<StarterTarget[]> {
  const yaml = `version: 1\nmodels: { probe: { source: hf://org/probe, conv_template: LM } }\nquantizations: [q4f16_1]\ntargets: [${STARTER_TARGETS.join(', ')}]\n`;
  const src = ManifestSource.parse(join(cwd, 'mlc.build.yaml'), yaml);
  const m = src.ok ? resolveManifest(src.value) : src;
  if (!m.ok) throw new Error(`the starter targets do not load: ${m.error.map((d) => d.message).join('; ')}`);
  const host = await hostFacts(cwd, process.env);
  return m.value.manifest.targets.map((t) => ({ name: t.name, missing: missingFor(t, host) }));
}

const SCHEMA_FILE = 'mlc.build.schema.json';

/**
 * The JSON Schema for the manifest's `$schema` comment, which editors resolve from the manifest's
 * folder. Relative when the project holds mlc-build (node_modules/mlc-build, the usual
 * `npm i -D mlc-build`, or the running package itself), so the reference survives a clone; else
 * the running package's own schema, absolute. Through node_modules, not the package's real path:
 * an npm link or workspace symlink points outside the project.
 */
function schemaReference(projectDir: string, runningSchema: string): string {
  const relativeInside = (path: string) => {
    const rel = relative(projectDir, path);
    return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : `./${rel.split(sep).join('/')}`;
  };
  const installed = `node_modules/mlc-build/schema/${SCHEMA_FILE}`;
  return relativeInside(runningSchema) ?? (existsSync(join(projectDir, installed)) ? `./${installed}` : runningSchema);
}

/** The schema of the running package (lib/cli/main.bundle.mjs → schema/). */
function runningSchema(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../schema', SCHEMA_FILE);
}
