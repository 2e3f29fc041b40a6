// What a new user meets first: init, --version, -C, mistyped commands, -n, -B, an unwritable out/,
// a failed step's command, edited outputs, suggestions.
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, run, tempProject } from '../helpers/cli.js';
import { HubServer } from '../helpers/hub-server.js';
import { count, Project, writeModel } from '../helpers/project.js';

const MANIFEST = `version: 1
models:
  Alpha: { source: ./hf/a, conv_template: redpajama_chat }
quantizations: [q4f16_1]
targets: [cuda, android]
`;
/** This package's folder, as node_modules/mlc-build would hold it. */
const PACKAGE = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = { a: { preset: 'redpajama_3b_v1', weights: 'safetensors' as const } };

describe('the command line', () => {
  it('--version prints the package version; -C runs as if started in a folder', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect((await p.run(['--version'])).stdout.trim()).toBe(version);
    const elsewhere = await run(['-C', p.dir, 'plan', '--json'], { cwd: '/', env: p.env });
    expect(elsewhere.code).toBe(0);
    expect((JSON.parse(elsewhere.stdout) as { nodes: unknown[] }).nodes.length).toBeGreaterThan(0);
    const missing = await run(['-C', p.path('nope'), 'plan'], { cwd: '/', env: p.env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`mlc-build: -C ${p.path('nope')}: no such folder`);
  });

  it('a mistyped command is told so, and a bare model or target name is told how to select it', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const typo = await p.run(['biuld']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('mlc-build: unknown command "biuld" (did you mean "build"?)');
    expect(typo.calls).toEqual([]);
    expect((await p.run(['build', 'Alpha'])).stderr).toContain('mlc-build: "Alpha" is a model: select it with model=Alpha');
    expect((await p.run(['build', 'android'])).stderr).toContain('mlc-build: "android" is a target: select it with target=android');
  });

  it('-n prints the plan and runs nothing; -B re-runs what the selectors pick, and only that', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const dry = await p.run(['-n']);
    expect(dry.code).toBe(0);
    expect(dry.calls).toEqual([]);
    expect(dry.stdout).toMatch(/^Libraries \(2\)$/m);
    expect(dry.stdout).toMatch(/steps \(.*\): \d+ to run/);
    expect((await p.run()).code).toBe(0);
    const forced = await p.run(['-B', 'step=compile', 'target=cuda']);
    expect(forced.code).toBe(0);
    expect(forced.calls.map((c) => `${c.sub} ${c.args[c.args.indexOf('--device') + 1]}`)).toEqual(['compile cuda']);
    expect((await p.run(['--dry-run'])).stdout).toContain('nothing to do');
  });

  it('an out/ that cannot be written is found before any step runs', async () => {
    const p = await Project.create(MANIFEST.replace('version: 1', 'version: 1\nout: blocker/dist'), MODELS);
    await writeFile(p.path('blocker'), 'a file, not a folder');
    const r = await p.run();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mlc-build: cannot write to the output folder blocker/dist: a file stands where a folder must be');
    expect(r.calls).toEqual([]);
  });

  it('--profile into a folder that does not exist is an error, and creates nothing', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['--profile', 'no/such/dir/trace.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--profile no/such/dir/trace.json: the folder');
    expect(r.calls).toEqual([]);
  });

  it("a failed step prints a command that can be re-run as it is, with out/'s paths, and its log", async () => {
    const p = await Project.create(MANIFEST, MODELS);
    const r = await p.run(['-k'], { MLC_DOUBLE_FAIL: 'compile .*cuda' });
    expect(r.code).toBe(1);
    const line = /^ {2}\$ (.+)$/m.exec(r.stderr)?.[1] as string;
    expect(line).toMatch(/mlc_llm\.mjs compile \.\/dist\/Alpha-q4f16_1-MLC\/mlc-chat-config\.json --device cuda -o dist\/libs\/Alpha-q4f16_1-cuda\.so$/);
    expect(readFileSync(p.path('dist/Alpha-q4f16_1-MLC/mlc-chat-config.json'), 'utf8')).toContain('"model_type"'); // its input is there
    expect(r.stderr).toMatch(/ {2}log: \S+compile_Alpha_q4f16_1_cuda\.log/);
  });
});

describe('outputs edited in place', () => {
  it('status, plan and explain agree: they name the file and say it differs from what was built', async () => {
    const p = await Project.create(MANIFEST, MODELS);
    expect((await p.run()).code).toBe(0);
    await writeFile(p.path('dist/libs/Alpha-q4f16_1-android.tar'), 'edited in place');
    const status = await p.run(['status']);
    expect(status.stdout).toMatch(
      /^stale\s+dist\/libs\/Alpha-q4f16_1-android\.tar\s+compile:Alpha\/q4f16_1\/android: dist\/libs\/Alpha-q4f16_1-android\.tar differs from what was built \(edited in place\?\); will be rebuilt$/m,
    );
    const plan = JSON.parse((await p.run(['plan', '--json'])).stdout) as { nodes: { id: string; state: string; reason: string }[] };
    expect(plan.nodes.find((n) => n.id === 'compile:Alpha/q4f16_1/android')?.reason).toBe(
      'dist/libs/Alpha-q4f16_1-android.tar differs from what was built (edited in place?); will be rebuilt',
    );
    const explain = await p.run(['explain', 'compile:Alpha/q4f16_1/android']);
    expect(explain.stdout).toContain('dist/libs/Alpha-q4f16_1-android.tar differs from what the last build placed there');
    const rebuilt = await p.run();
    expect(count(rebuilt.calls, 'compile')).toBe(1);
  });
});

describe('suggestions', () => {
  it('suggest the nearest name the user has not listed already; hf:/ with one slash is told about hf://', async () => {
    const p = await Project.create(
      MANIFEST.replace('quantizations: [q4f16_1]', 'quantizations: [q4f16_1, q4f16_l]').replace('conv_template: redpajama_chat', 'conv_template: qwen3x'),
      MODELS,
    );
    const r = await p.run(['plan']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown conv template "qwen3x" (did you mean "qwen3"?)');
    expect(r.stderr).toMatch(/unknown quantization "q4f16_l"(?! \(did you mean "q4f16_1"\?\))/);
    await writeFile(p.path('mlc.build.yaml'), MANIFEST.replace('conv_template: redpajama_chat', 'conv_template: redpajama_chat, model_type: qwen3x'));
    expect((await p.run(['plan'])).stderr).toContain('unknown model type "qwen3x" (did you mean "qwen3"?)');
    await writeFile(p.path('mlc.build.yaml'), MANIFEST.replace('./hf/a', 'hf:/org/name'));
    expect((await p.run(['plan'])).stderr).toContain('source "hf:/org/name" is not a Hugging Face repository: write hf://org/name (two slashes)');
  });
});

describe('mlc-build init', () => {
  let server: HubServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('from local folders: a manifest that plan accepts, conv templates by family, the targets this host can build', async () => {
    const dir = await tempProject({});
    await writeModel(join(dir, 'models/Llama-2-7b-chat-hf'), 'llama2_7b', 'safetensors');
    await writeModel(join(dir, 'models/Meta-Llama-3.1-8B-Instruct'), 'llama3_1_8b', 'safetensors');
    await writeModel(join(dir, 'models/my-model'), 'llama3_2_1b', 'safetensors');
    const env = { MLC_BUILD_ALL_HOSTS: '' };
    const r = await run(['init', './models/Llama-2-7b-chat-hf', './models/Meta-Llama-3.1-8B-Instruct', './models/my-model'], { cwd: dir, env });
    expect(r.code).toBe(0);
    const text = await readFile(join(dir, 'mlc.build.yaml'), 'utf8');
    expect(text).toMatch(/^ {2}Llama-2-7b-chat-hf:\n {4}source: \.\/models\/Llama-2-7b-chat-hf\n {4}conv_template: llama-2 /m);
    expect(text).toMatch(/^ {4}conv_template: llama-3_1 {3}# model_type llama, and the name matches/m);
    expect(text).toMatch(/^ {2}my-model:\n.*\n {4}conv_template: llama-3 {3}# model_type llama with vocab_size 128256/m);
    expect(text).toContain('quantizations: [q4f16_1]');
    expect(text).toMatch(/^ {2}- android$/m);
    expect(text).toMatch(/^ {2}# - iphone .*# this host lacks macOS/m);
    const plan = await run(['plan', '--json'], { cwd: dir, env: { MLC_BUILD_MLC_LLM: '/nonexistent' } });
    expect(plan.code).toBe(0);
    const again = await run(['init', './models/my-model'], { cwd: dir, env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists; not overwriting it (--force does)');
    expect((await run(['init', '--force', './models/my-model'], { cwd: dir, env })).code).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });

  it('from the hub (config.json fetched with the build client), and with no argument a commented example', async () => {
    server = new HubServer([
      {
        repo: 'org/Qwen3-0.6B',
        refs: { main: 'a'.repeat(40) },
        files: { 'config.json': Buffer.from(readFileSync(join(FIXTURES, 'hf-configs/qwen3_0.6b.json'))) },
      },
    ]);
    const url = await server.start();
    const dir = await tempProject({});
    const env = { HF_ENDPOINT: url, HF_HUB_CACHE: join(dir, 'hf-cache'), MLC_BUILD_ALL_HOSTS: '' };
    const r = await run(['init', 'hf://org/Qwen3-0.6B'], { cwd: dir, env });
    expect(r.stderr).toContain('wrote mlc.build.yaml: 1 model');
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'mlc.build.yaml'), 'utf8')).toMatch(/^ {2}Qwen3-0\.6B:\n {4}source: hf:\/\/org\/Qwen3-0\.6B\n {4}conv_template: qwen3 /m);
    expect((await run(['plan'], { cwd: dir, env })).code).toBe(0);
    const empty = await tempProject({});
    expect((await run(['init'], { cwd: empty, env })).code).toBe(0);
    expect(await readFile(join(empty, 'mlc.build.yaml'), 'utf8')).toContain('# An example to start from');
    expect((await run(['plan'], { cwd: empty, env })).code).toBe(0);
    const bad = await run(['init', 'hf:/org/x'], { cwd: await tempProject({}), env });
    expect(bad.code).toBe(2);
    await rm(dir, { recursive: true, force: true });
    await rm(empty, { recursive: true, force: true });
  });

  it("$schema resolves from the project folder: through node_modules/mlc-build when installed (relative: it survives a clone), else the running package's, absolute", async () => {
    const env = { MLC_BUILD_ALL_HOSTS: '' };
    const schemaOf = async (dir: string) => {
      const text = await readFile(join(dir, 'mlc.build.yaml'), 'utf8');
      return /^# yaml-language-server: \$schema=(\S+)$/m.exec(text)?.[1] ?? '(none)';
    };
    /** What an editor does: resolve the reference from the manifest's folder and read the JSON Schema. */
    const resolvesToSchema = async (dir: string, reference: string) => {
      const schema = JSON.parse(await readFile(resolve(dir, reference), 'utf8')) as { $schema?: string; properties?: Record<string, unknown> };
      return schema.$schema === 'https://json-schema.org/draft/2020-12/schema' && schema.properties?.targets !== undefined;
    };
    const installedIn = async (dir: string) => {
      await mkdir(join(dir, 'node_modules'));
      await symlink(PACKAGE, join(dir, 'node_modules/mlc-build'), 'dir');
    };
    // Outside any project that holds the package: the running package's schema, absolute.
    const outside = await tempProject({});
    expect((await run(['init'], { cwd: outside, env })).code).toBe(0);
    const absolute = await schemaOf(outside);
    expect(isAbsolute(absolute)).toBe(true);
    expect(await resolvesToSchema(outside, absolute)).toBe(true);
    // `npm i -D mlc-build` (here a symlink, as npm link and workspaces make): relative, through node_modules.
    const project = await tempProject({});
    await installedIn(project);
    expect((await run(['init'], { cwd: project, env })).code).toBe(0);
    const reference = await schemaOf(project);
    expect(reference).toBe('./node_modules/mlc-build/schema/mlc.build.schema.json');
    expect(await resolvesToSchema(project, reference)).toBe(true);
    expect((await run(['plan'], { cwd: project, env })).code).toBe(0);
    // A clone elsewhere, with its own install: the same reference resolves there.
    const clone = await tempProject({ 'mlc.build.yaml': await readFile(join(project, 'mlc.build.yaml'), 'utf8') });
    await installedIn(clone);
    expect(await resolvesToSchema(clone, await schemaOf(clone))).toBe(true);
    // A reference that misses the file is told apart.
    await expect(resolvesToSchema(project, './node_modules/mlc-build/mlc.build.schema.json')).rejects.toThrow(/ENOENT/);
  });
});
