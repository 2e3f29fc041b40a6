// The first thing bin/mlc-build.js runs: a plain `mlc-build` (or `mlc-build build`) in a folder
// with mlc.build.yaml whose no-op stamp still holds is answered from stats alone, without loading
// the build code (app/noop-stamp.ts says what the stamp covers).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkStamp, isStampedArgv } from '../app/noop-stamp.js';

export function tryNoop(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): number | undefined {
  if (!isStampedArgv(argv)) return undefined;
  const started = performance.now();
  const manifest = join(cwd, 'mlc.build.yaml');
  if (!existsSync(manifest)) return undefined;
  const fresh = checkStamp(cwd, manifest, argv, env);
  if (fresh === undefined) return undefined;
  process.stderr.write(`mlc-build: nothing to do (${fresh} fresh) in ${Math.round(performance.now() - started)}ms\n`);
  return 0;
}
