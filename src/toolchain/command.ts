// src/toolchain/ owns mlc_llm as a command: resolving it, its fingerprint, argv per step, what the
// host can build, and the managed toolchain (managed/: a venv pinned by wheel sha256).
//
// The mlc_llm command: env MLC_BUILD_MLC_LLM, else toolchain.mlc_llm, else `mlc_llm`.
import { parse } from 'shell-quote';
import { err, ok, type Result } from '../result.js';
import type { Fingerprint } from './fingerprint.js';

export const TOOLCHAIN_ENV = 'MLC_BUILD_MLC_LLM';

export interface ToolchainCommand {
  argv: string[];
  /** `managed`: toolchain.install, set up by mlc-build (src/toolchain/managed/). */
  from: 'env' | 'manifest' | 'default' | 'managed';
  /** A managed toolchain's fingerprint, known from its pins. */
  pinned?: Fingerprint;
  /** Why the toolchain cannot run yet (a managed one not set up). */
  problem?: string;
}

export function resolveToolchainCommand(fromManifest: string | undefined, env: NodeJS.ProcessEnv, managed = false): Result<ToolchainCommand, string> {
  const envValue = env[TOOLCHAIN_ENV];
  if (managed && (envValue === undefined || envValue.trim() === '')) {
    return ok({
      argv: ['mlc_llm'],
      from: 'managed',
      problem: 'the managed toolchain (toolchain.install) is not set up yet: run mlc-build toolchain install, or build',
    });
  }
  const [text, from] =
    envValue !== undefined && envValue.trim() !== ''
      ? [envValue, 'env' as const]
      : fromManifest !== undefined
        ? [fromManifest, 'manifest' as const]
        : ['mlc_llm', 'default' as const];
  const words = parse(text);
  if (words.length === 0 || words.some((w) => typeof w !== 'string')) {
    const where = from === 'env' ? TOOLCHAIN_ENV : 'toolchain.mlc_llm';
    return err(`${where} must be a command such as "mlc_llm" or "python -m mlc_llm", without shell operators; got ${JSON.stringify(text)}`);
  }
  return ok({ argv: words as string[], from });
}
