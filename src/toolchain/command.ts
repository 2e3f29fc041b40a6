// The mlc_llm command: env MLC_BUILD_MLC_LLM, else toolchain.mlc_llm, else `mlc_llm`.
import { parse } from 'shell-quote';
import { err, ok, type Result } from '../result.js';

export const TOOLCHAIN_ENV = 'MLC_BUILD_MLC_LLM';

export interface ToolchainCommand {
  argv: string[];
  from: 'env' | 'manifest' | 'default';
}

export function resolveToolchainCommand(fromManifest: string | undefined, env: NodeJS.ProcessEnv): Result<ToolchainCommand, string> {
  const envValue = env[TOOLCHAIN_ENV];
  const [text, from] =
    envValue !== undefined && envValue.trim() !== ''
      ? [envValue, 'env' as const]
      : fromManifest !== undefined
        ? [fromManifest, 'manifest' as const]
        : ['mlc_llm', 'default' as const];
  const words = parse(text);
  if (words.length === 0 || words.some((w) => typeof w !== 'string')) {
    const where = from === 'env' ? `${TOOLCHAIN_ENV}` : 'toolchain.mlc_llm';
    return err(`${where} must be a command such as "mlc_llm" or "python -m mlc_llm", without shell operators; got ${JSON.stringify(text)}`);
  }
  return ok({ argv: words as string[], from });
}
