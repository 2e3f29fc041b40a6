// Checks an app-config.json against web-llm's own `AppConfig` type with tsc: the literal gets
// excess-property checks, so a field web-llm does not know fails as a wrong type does.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './cli.js';

const exec = promisify(execFile);
const require = createRequire(import.meta.url);

/** tsc's exit code and what it printed (empty when the JSON text is a valid AppConfig). */
export async function typecheckAppConfig(json: string): Promise<{ code: number; stdout: string }> {
  const dir = await tempDir();
  const webLlm = dirname(require.resolve('@mlc-ai/web-llm/package.json'));
  await writeFile(join(dir, 'check.ts'), `import type { AppConfig } from '@mlc-ai/web-llm';\nexport const appConfig: AppConfig = ${json};\n`);
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'esnext',
        moduleResolution: 'bundler',
        skipLibCheck: true,
        types: [],
        paths: { '@mlc-ai/web-llm': [join(webLlm, 'lib/index.d.ts')] },
      },
      files: ['check.ts'],
    }),
  );
  return exec(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir]).then(
    () => ({ code: 0, stdout: '' }),
    (e: unknown) => e as { code: number; stdout: string },
  );
}
