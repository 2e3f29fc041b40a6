// The release workflow `ci init` writes: a plan job (the matrix of the libraries the remote cache
// lacks), a weights job on the conversion runner, the compile matrix (after plan only: compiles
// never wait for weights), and a release job after both that assembles the folder from the remote
// cache. Pull requests use the cache read-only. One text per CI, with comments saying what to set.
import { relative } from 'node:path';
import { stringify } from 'yaml';
import type { Manifest } from '../manifest/types.js';
import { ciRecipe } from '../recipes/index.js';
import { convertRunner, type Runner } from './jobs.js';
import { emsdkScript, manifestNeedsWebRuntime, webRuntimeScript } from './web-runtime.js';

export const GITHUB_WORKFLOW = '.github/workflows/mlc-build.yml';
export const GITLAB_PIPELINE = '.gitlab-ci.yml';

const flow = (r: Runner): string => (typeof r === 'string' ? r : `[${r.join(', ')}]`);

const block = (lines: readonly string[]) =>
  lines
    .map((l) =>
      l
        .split('\n')
        .map((x) => `          ${x}`)
        .join('\n'),
    )
    .join('\n');

/**
 * The compile job's steps that set up emsdk and the web runtime, run only by the matrix jobs that
 * build webgpu (matrix.needs_web_runtime); none when the manifest has no webgpu cells.
 */
function githubWebRuntimeSteps(manifest: Manifest): string {
  if (!manifestNeedsWebRuntime(manifest)) return '';
  const version = ciRecipe().web_runtime.emsdk_version;
  // Each step is a shell of its own: what later steps need goes to GITHUB_PATH and GITHUB_ENV.
  return `
      - name: emsdk ${version} (webgpu)
        if: \${{ matrix.needs_web_runtime }}
        run: |
${block([...emsdkScript(), 'echo "EMSDK=$EMSDK" >> "$GITHUB_ENV"', 'echo "$EMSDK" >> "$GITHUB_PATH"', 'echo "$EMSDK/upstream/emscripten" >> "$GITHUB_PATH"'])}
      - name: mlc-llm web runtime at the toolchain's commit (webgpu)
        if: \${{ matrix.needs_web_runtime }}
        run: |
${block([...webRuntimeScript(), 'echo "MLC_LLM_SOURCE_DIR=$MLC_LLM_SOURCE_DIR" >> "$GITHUB_ENV"'])}`;
}

/** Where the managed toolchain's environments live, for a CI cache keyed on mlc.build.lock. */
function toolchainsDir(manifest: Manifest): string {
  return `${relative(manifest.root, manifest.cache).split('\\').join('/') || '.'}/toolchains`;
}

export function githubWorkflow(manifest: Manifest): string {
  const setup = (key: string) => `      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci
      - uses: actions/cache@v4
        with:
          path: ${toolchainsDir(manifest)}
          key: mlc-build-toolchain-${key}-\${{ runner.os }}-\${{ runner.arch }}-\${{ hashFiles('mlc.build.lock') }}`;
  return `# Written by \`mlc-build ci init github\`: the release of ${relative(manifest.root, manifest.file) || 'mlc.build.yaml'} on GitHub Actions.
#
# plan     lists the libraries the remote cache lacks (mlc-build matrix --only-missing)
# weights  converts the weights on the conversion runner (ci.runs_on.convert in the manifest)
# compile  one job per group of those libraries, each on the runner its target needs (runs_on)
# release  assembles release/ from the remote cache and uploads it as the "release" artifact
#
# Set in the repository's settings:
#   variable MLC_BUILD_REMOTE_CACHE        the remote cache, e.g. https://cache.example.com/mlc
#   secret   MLC_BUILD_REMOTE_HEADER       e.g. "Authorization: Bearer <token>" (if the cache wants one)
#   secret   MLC_BUILD_REMOTE_SIGNING_KEY  signs results; jobs refuse unsigned ones (optional)
#   secret   HF_TOKEN                      for gated models on the hub (optional)
# Pull requests only read the cache: they cannot put results there.
# With toolchain.install, commit mlc.build.lock with the toolchain pins of every runner platform
# (\`mlc-build toolchain lock --platform darwin_arm64-cp311 linux_x86_64-cp311-cu122 …\` from any
# machine): jobs then install the same wheels, and the release job finds other platforms'
# libraries by their keys.
name: mlc-build

on:
  push:
    branches: [main]
  pull_request:
  workflow_dispatch:

env:
  MLC_BUILD_REMOTE_CACHE: \${{ vars.MLC_BUILD_REMOTE_CACHE }}
  MLC_BUILD_REMOTE_HEADER: \${{ secrets.MLC_BUILD_REMOTE_HEADER }}
  MLC_BUILD_REMOTE_SIGNING_KEY: \${{ secrets.MLC_BUILD_REMOTE_SIGNING_KEY }}
  MLC_BUILD_REMOTE_CACHE_READ_ONLY: \${{ github.event_name == 'pull_request' && '1' || '' }}
  HF_TOKEN: \${{ secrets.HF_TOKEN }}

jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: \${{ steps.matrix.outputs.matrix }}
      count: \${{ steps.matrix.outputs.count }}
      has_work: \${{ steps.matrix.outputs.has_work }}
    steps:
${setup('plan')}
      - id: matrix
        run: npx mlc-build matrix --format github --only-missing

  weights:
    runs-on: ${flow(convertRunner(manifest))}
    steps:
${setup('weights')}
      - run: npx mlc-build build --all-hosts step=convert

  compile:
    needs: plan
    if: needs.plan.outputs.has_work == 'true'
    name: \${{ matrix.name }}
    runs-on: \${{ matrix.runs_on }}
    strategy:
      fail-fast: false
      matrix: \${{ fromJSON(needs.plan.outputs.matrix) }}
    steps:
${setup('compile')}${githubWebRuntimeSteps(manifest)}
      - run: npx mlc-build build \${{ matrix.build }}

  release:
    needs: [plan, weights, compile]
    # After both, also when compile had nothing to do (skipped); not when a job failed.
    if: \${{ !cancelled() && !contains(needs.*.result, 'failure') }}
    runs-on: ubuntu-latest
    steps:
${setup('release')}
      - run: npx mlc-build release
      - uses: actions/upload-artifact@v4
        with:
          name: release
          path: release/
`;
}

export function gitlabPipeline(manifest: Manifest): string {
  const cache = { key: { files: ['mlc.build.lock'], prefix: 'mlc-build-toolchain' }, paths: [toolchainsDir(manifest)] };
  const doc = {
    workflow: {
      rules: [{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"', variables: { MLC_BUILD_REMOTE_CACHE_READ_ONLY: '1' } }, { when: 'always' }],
    },
    stages: ['plan', 'build', 'release'],
    plan: {
      stage: 'plan',
      image: 'node:20',
      cache,
      script: ['npm ci', 'npx mlc-build matrix --format gitlab --only-missing > mlc-build-jobs.yml'],
      artifacts: { paths: ['mlc-build-jobs.yml'] },
    },
    weights: {
      stage: 'build',
      tags: ([] as string[]).concat(convertRunner(manifest)),
      cache,
      script: ['npm ci', 'npx mlc-build build --all-hosts step=convert'],
    },
    compile: {
      stage: 'build',
      needs: ['plan'],
      trigger: { include: [{ artifact: 'mlc-build-jobs.yml', job: 'plan' }], strategy: 'depend' },
    },
    release: {
      stage: 'release',
      image: 'node:20',
      needs: ['weights', 'compile'],
      cache,
      script: ['npm ci', 'npx mlc-build release'],
      artifacts: { paths: ['release/'] },
    },
  };
  return `# Written by \`mlc-build ci init gitlab\`: the release of ${relative(manifest.root, manifest.file) || 'mlc.build.yaml'} on GitLab CI.
# plan lists the libraries the remote cache lacks as a child pipeline (mlc-build matrix --format
# gitlab --only-missing), weights converts on the conversion runner, compile runs the child
# pipeline, release assembles release/ from the remote cache.
# Set as CI/CD variables: MLC_BUILD_REMOTE_CACHE (the cache URL), MLC_BUILD_REMOTE_HEADER
# ("Authorization: Bearer <token>", masked), optionally MLC_BUILD_REMOTE_SIGNING_KEY and HF_TOKEN.
# Merge requests only read the cache.
${stringify(doc, { aliasDuplicateObjects: false })}`;
}
