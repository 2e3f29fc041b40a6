// The managed toolchain's pins in the steps' keys, end to end with the machine's real Python, venv
// and pip and hand-made wheels: a new pin re-keys the steps that run mlc_llm, and another
// platform's pins key the libraries built there, so a release here finds them in the remote cache.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { NGINX, Nginx } from '../helpers/nginx.js';
import { exec, lockOf, MANAGED, managedProject, sha256, VENV } from '../helpers/managed-toolchain.js';
import { lacks } from '../helpers/tools.js';
import { mlcWheels } from '../helpers/wheels.js';

describe.skipIf(lacks('python3 with venv and pip', VENV))('managed toolchain (toolchain.install): pins in the keys', () => {
  it('a new version pinned in the lock re-keys the steps that run mlc_llm, not the downloads', async () => {
    const e = await managedProject(join(await tempDir(), 'store'));
    expect((await e.run(['build'], MANAGED)).code).toBe(0);
    await mlcWheels(e.path('wheels'), { mlcLlm: '0.1.dev8', tvm: '0.1.dev5' });
    const r = await e.run(['build', '--update', '--json'], MANAGED);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('resolving');
    expect(r.stderr).not.toContain("making pip's environment"); // the store's, made by the first build
    expect((await lockOf(e)).toolchain?.[Object.keys((await lockOf(e)).toolchain ?? {})[0] ?? '']?.packages.map((p) => p.version)).toEqual([
      '0.1.dev5',
      '0.1.dev8',
    ]);
    expect(r.calls.map((c) => c.sub).sort()).toEqual(['compile', 'convert_weight', 'gen_config', 'gen_config']);
    const finishes = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; kind?: string; status?: string })
      .filter((x) => x.event === 'finish' && x.kind === 'download');
    expect(finishes.map((f) => f.status)).toEqual(['fresh', 'fresh']);

    // The manifest asks for another toolchain: the lock's pins are resolved again, without --update.
    await e.editManifest((y) => y.replace('packages: [mlc-llm-nightly-cpu]', 'packages: ["mlc-llm-nightly-cpu==0.1.dev7"]'));
    const asked = await e.run(['build'], MANAGED);
    expect(asked.code).toBe(0);
    expect(asked.stderr).toContain('resolving mlc-llm-nightly-cpu==0.1.dev7');
    expect((await lockOf(e)).toolchain?.[Object.keys((await lockOf(e)).toolchain ?? {})[0] ?? '']?.packages.map((p) => p.version)).toEqual([
      '0.1.dev5',
      '0.1.dev7',
    ]);
  }, 120_000);

  it.skipIf(lacks('nginx', NGINX !== undefined))(
    "a release on Linux takes a Mac's iphone library from the remote cache, keyed with the Mac's pinned toolchain",
    async () => {
      const server = await Nginx.start();
      try {
        // "The Mac": its Python says darwin/arm64, so its toolchain is pinned as darwin_arm64-… (the double builds iphone anywhere).
        const mac = await managedProject(join(await tempDir(), 'store'));
        await writeFile(
          mac.path('mac-python'),
          `#!/bin/sh\ncase "$2" in *platform.system*) exec python3 -c 'import json, platform, sys; print(json.dumps({"version": platform.python_version(), "system": "darwin", "machine": "arm64", "abi": sys.implementation.cache_tag}))';; esac\nexec python3 "$@"\n`,
          { mode: 0o755 },
        );
        await mac.editManifest((y) =>
          y.replace('index_url: false }', 'index_url: false, python: ./mac-python }').replace('targets: [android]', 'targets: [android, iphone]'),
        );
        // Pinned for the Mac from here (pip resolving for its platform), then used there as they are.
        const abi = (await exec('python3', ['-c', 'import sys; print(sys.implementation.cache_tag.replace("cpython-", "cp"))'])).stdout.trim();
        const pinned = await mac.run(['toolchain', 'lock', '--platform', `darwin_arm64-${abi}`], MANAGED);
        expect(pinned.code).toBe(0);
        expect(pinned.stdout).toBe(`darwin_arm64-${abi}: mlc-ai-nightly-cpu 0.1.dev5, mlc-llm-nightly-cpu 0.1.dev7\n`);
        const built = await mac.run(['build', 'target=iphone', '--remote-cache', server.url], MANAGED);
        expect(built.code).toBe(0);
        expect(built.stderr).not.toContain('resolving');
        expect(Object.keys((await lockOf(mac)).toolchain ?? {})).toEqual([expect.stringMatching(/^darwin_arm64-cp3\d+$/)]);

        // "The Linux release job": the same manifest and lock, a fresh store, this host's own toolchain for the configs.
        const linux = await managedProject(join(await tempDir(), 'store'));
        await linux.editManifest((y) => y.replace('targets: [android]', 'targets: [android, iphone]'));
        await copyFile(mac.path('mlc.build.lock'), linux.path('mlc.build.lock'));
        const r = await linux.run(['release', 'target=iphone', '--remote-cache', server.url], { ...MANAGED, MLC_BUILD_ALL_HOSTS: '' });
        expect(r.stderr).not.toContain('cannot be built');
        expect(r.code).toBe(0);
        expect(r.calls.filter((c) => c.sub === 'compile')).toEqual([]);
        const inv = JSON.parse(await readFile(linux.path('release/release.json'), 'utf8')) as { libraries: { cell: string; sha256: string }[] };
        expect(inv.libraries.map((l) => [l.cell, l.sha256])).toEqual([['qwen/q4f16_1/iphone', await sha256(mac.path('dist/libs/qwen-q4f16_1-iphone.tar'))]]);

        // Without the Mac's pins the key is unknown here: named, nothing written.
        const blind = await managedProject(join(await tempDir(), 'store'));
        await blind.editManifest((y) => y.replace('targets: [android]', 'targets: [android, iphone]'));
        const miss = await blind.run(['release', 'target=iphone', '--remote-cache', server.url], { ...MANAGED, MLC_BUILD_ALL_HOSTS: '' });
        expect(miss.code).toBe(1);
        expect(miss.stderr).toContain('mlc.build.lock pins no toolchain for darwin-arm64 yet');
      } finally {
        await server.stop();
      }
    },
    180_000,
  );
});
