// What to install for `toolchain.install`: its packages, or for `nightly` the wheel variant of
// this host (recipes/wheels.json): a CUDA variant by the CUDA version the NVIDIA driver reports
// (the newest it can run), a ROCm variant on an AMD host (the newest listed), else cpu.
import { execFile } from 'node:child_process';
import { isAbsolute, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson } from '../../canonical-json.js';
import type { ToolchainInstall } from '../../manifest/types.js';
import { wheels } from '../../recipes/index.js';
import { err, ok, type Result } from '../../result.js';
import { sha256 } from '../../store/hash.js';
import { detectGpus, type HostGpus } from '../host.js';

export interface InstallRequest {
  packages: string[];
  findLinks: string[];
  indexUrl?: string | false;
  /** For `nightly`: the variant picked for this host. */
  variant?: string;
  /** What the lock remembers it was resolved for. */
  digest: string;
}

/** `root`: local find_links count relative to it, so machines with the project elsewhere share the lock. */
export async function requestFor(
  install: ToolchainInstall,
  root: string,
  env: NodeJS.ProcessEnv,
  gpus: HostGpus = detectGpus(),
  /** For another machine: the nightly variant it uses, instead of this host's. */
  variantFor?: string,
): Promise<Result<InstallRequest, string>> {
  let packages = install.packages;
  let findLinks = install.findLinks;
  let indexUrl = install.indexUrl;
  let variant: string | undefined;
  if (install.nightly) {
    const picked = variantFor !== undefined ? ok(variantFor) : await nightlyVariant(gpus, env);
    if (!picked.ok) return picked;
    variant = picked.value;
    const w = wheels();
    if (!w.variants[variant]) return err(`no nightly wheel variant ${JSON.stringify(variant)}: the variants are ${Object.keys(w.variants).join(', ')}`);
    packages = (w.variants[variant] as { packages: string[] }).packages;
    findLinks = [w.find_links];
    indexUrl = undefined;
  }
  const asWritten = findLinks.map((l) => (isAbsolute(l) ? relative(root, l).split(sep).join('/') : l));
  const digest = sha256(canonicalJson({ packages, findLinks: asWritten, indexUrl: indexUrl ?? null }));
  return ok({ packages, findLinks, ...(indexUrl !== undefined ? { indexUrl } : {}), ...(variant ? { variant } : {}), digest });
}

async function nightlyVariant(gpus: HostGpus, env: NodeJS.ProcessEnv): Promise<Result<string, string>> {
  const variants = Object.entries(wheels().variants);
  const version = (v: string) =>
    v
      .split('.')
      .map(Number)
      .reduce((a, n) => a * 1000 + n, 0);
  if (gpus.cuda > 0) {
    const cuda = await driverCuda(env);
    const cudaVariants = variants.filter(([, v]) => v.cuda !== undefined).sort(([, a], [, b]) => version(b.cuda ?? '0') - version(a.cuda ?? '0'));
    if (cuda === undefined) {
      return err(
        `this host has an NVIDIA GPU but nvidia-smi did not say its CUDA version: list the packages of one variant in toolchain.install.packages (${cudaVariants.map(([n, v]) => `${n}: ${v.for}`).join('; ')})`,
      );
    }
    const fit = cudaVariants.find(([, v]) => version(v.cuda ?? '0') <= version(cuda));
    if (!fit) return err(`the NVIDIA driver supports CUDA ${cuda}; MLC's wheels need at least CUDA ${cudaVariants.at(-1)?.[1].cuda ?? '?'}: update the driver`);
    return ok(fit[0]);
  }
  if (gpus.rocm > 0) {
    const newest = variants.filter(([, v]) => v.rocm !== undefined).sort(([, a], [, b]) => version(b.rocm ?? '0') - version(a.rocm ?? '0'))[0];
    if (newest) return ok(newest[0]);
  }
  return ok('cpu');
}

/** "12.2" from nvidia-smi's header ("CUDA Version: 12.2"), if it runs. */
async function driverCuda(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', [], { env, timeout: 15_000 });
    return /CUDA Version:\s*(\d+\.\d+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** Where pip looks for the request's wheels: its find_links, then its index (PyPI unless set, none if false). */
export function indexPlaces(request: InstallRequest): string[] {
  return [...request.findLinks, ...(typeof request.indexUrl === 'string' ? [request.indexUrl] : request.indexUrl === false ? [] : ['https://pypi.org/simple'])];
}

/** What to tell a user whose pip run failed, given its output: no network, or no wheel that fits. */
export function pipAdvice(output: string, request: InstallRequest): string | undefined {
  const where = indexPlaces(request);
  if (
    /NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable|Could not fetch URL|ConnectTimeout|Max retries exceeded/.test(
      output,
    )
  ) {
    return `pip cannot reach ${where.join(', ')}: without network, point toolchain.mlc_llm at an installed mlc_llm, or toolchain.install.find_links at a folder of wheels with index_url: false`;
  }
  if (/No matching distribution found|Could not find a version that satisfies/.test(output)) {
    const variants = Object.entries(wheels().variants)
      .map(([name, v]) => `${name} (${v.for}): ${v.packages.join(' ')}`)
      .join('; ');
    return `no wheel in ${where.join(', ')} fits this platform and Python. MLC's nightly variants: ${variants}; they are built for Linux x86_64 and aarch64 (cpu, CUDA, ROCm), macOS arm64 (cpu, Metal) and Windows x86_64 (cpu, Vulkan)`;
  }
  return undefined;
}
