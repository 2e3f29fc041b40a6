// The no-op stamp's parts that the end-to-end tests cannot reach on this machine (another GPU), and
// the command lines the fast path reads: two that read the same must mean the same to the CLI.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkStamp, envDigest, manifestDigest, writeStamp, type NoopRequest } from '../../src/app/noop-stamp.js';
import { detectGpus } from '../../src/toolchain/host.js';
import { readNoopRequest } from '../../src/cli/noop-request.js';
import { tempDir } from '../helpers/cli.js';

const build = (over: Partial<NoopRequest> = {}): NoopRequest => ({ command: 'build', selectors: [], allHosts: false, json: false, ...over });

describe('what the no-op stamp records of the host', () => {
  it('GPUs other than those it saw void it; the same GPUs do not', async () => {
    const root = await tempDir();
    const manifest = join(root, 'mlc.build.yaml');
    await writeFile(manifest, 'version: 1\n');
    const env = { XDG_CACHE_HOME: join(root, 'cache') };
    const stamp = (gpus: ReturnType<typeof detectGpus>) =>
      writeStamp(
        { request: build(), root, manifest: manifestDigest('version: 1\n'), env: envDigest(env), printed: [{ to: 'stderr', text: 'done\n' }] },
        { files: [manifest], absentWhenRead: new Set(), dirs: [], host: { paths: [], gpus } },
        env,
      );
    const here = detectGpus();
    const check = () => checkStamp(root, manifest, build(), env);
    expect(stamp({ ...here, cuda: here.cuda + 1 })).toEqual({ written: true });
    expect(check()).toEqual({ void: "the host's GPUs changed" });
    expect(stamp(here)).toEqual({ written: true });
    expect(check()).toMatchObject({ printed: [{ to: 'stderr', text: 'done\n' }] });
  });

  it('a path the checks found absent voids it once it appears', async () => {
    const root = await tempDir();
    const manifest = join(root, 'mlc.build.yaml');
    await writeFile(manifest, 'version: 1\n');
    const env = { XDG_CACHE_HOME: join(root, 'cache') };
    const tool = join(root, 'bin', 'emcc');
    writeStamp(
      { request: build(), root, manifest: manifestDigest('version: 1\n'), env: envDigest(env), printed: [] },
      { files: [manifest], absentWhenRead: new Set(), dirs: [], host: { paths: [tool], gpus: detectGpus() } },
      env,
    );
    expect(checkStamp(root, manifest, build(), env)).toMatchObject({ printed: [] });
    await mkdir(join(root, 'bin'));
    await writeFile(tool, '');
    expect(checkStamp(root, manifest, build(), env)).toEqual({ void: `a host check's answer may have changed: ${tool}` });
  });
});

describe('the command lines a stamp may answer', () => {
  const read = (argv: string[], env: NodeJS.ProcessEnv = {}) => readNoopRequest(argv, '/p', env);

  it('reads build and status with their selectors, -C, --all-hosts (or the variable) and --json; -j and -k change nothing', () => {
    expect(read([])).toEqual({ request: build(), cwd: '/p' });
    expect(read(['build', '-j', '4', '-k'])).toEqual({ request: build(), cwd: '/p' });
    expect(read(['--jobs=2', '--keep-going', 'model=A', 'target=cuda'])).toEqual({ request: build({ selectors: ['model=A', 'target=cuda'] }), cwd: '/p' });
    expect(read(['-C', 'sub', 'build', '--all-hosts', '--json'])).toEqual({ request: build({ allHosts: true, json: true }), cwd: '/p/sub' });
    expect(read(['--directory=/q'], { MLC_BUILD_ALL_HOSTS: 'yes' })).toEqual({ request: build({ allHosts: true }), cwd: '/q' });
    expect(read(['status', '--json', 'quant=q4f16_1'])).toEqual({
      request: { command: 'status', selectors: ['quant=q4f16_1'], allHosts: false, json: true },
      cwd: '/p',
    });
  });

  it('leaves anything else to the CLI', () => {
    for (const argv of [
      ['plan'],
      ['-n'],
      ['-q'],
      ['--verify'],
      ['-B'],
      ['--profile', 'x.json'],
      ['--remote-cache', 'http://x'],
      ['-c', 'other.yaml'],
      ['-j', '0'],
      ['-j', 'many'],
      ['-j'],
      ['-C', 'a', '-C', 'b'],
      ['model=A', 'status'], // a misplaced command: the CLI says so
      ['--json', 'build'], // build's option before its name
      ['status', '-k'],
      ['--', 'model=A'],
    ])
      expect({ argv, read: read(argv) }).toEqual({ argv, read: undefined });
  });
});
