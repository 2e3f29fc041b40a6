// `mlc-build ci init github|gitlab`: writes the release workflow (src/ci/workflows.ts) into the
// project, refusing to replace one without --force, and refusing webgpu cells whose jobs could
// not know the mlc-llm commit of their web runtime (src/ci/web-runtime.ts).
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { ciInitWarnings } from '../../ci/warnings.js';
import { webRuntimeCommit } from '../../ci/web-runtime.js';
import { readLock } from '../../lockfile/lock-file.js';
import { printDiagnostics } from '../../report/diagnostics.js';
import { GITHUB_WORKFLOW, GITLAB_PIPELINE, githubWorkflow, gitlabPipeline } from '../../ci/workflows.js';
import { writeFileAtomic } from '../../store/atomic.js';
import { EXIT, type GlobalOptions } from '../../app/index.js';
import { load } from '../context.js';

export function registerCi(program: Command, setExit: (code: number) => void): void {
  const ci = program.command('ci').description('CI for the release: write the workflow');
  ci.command('init')
    .description('write the release workflow: .github/workflows/mlc-build.yml (github) or .gitlab-ci.yml (gitlab)')
    .argument('<ci>', 'github or gitlab')
    .option('--force', 'replace the file if it exists')
    .action(async (which: string, flags: { force?: boolean }) => {
      if (which !== 'github' && which !== 'gitlab') {
        process.stderr.write(`mlc-build: ci init: ${JSON.stringify(which)} is not a CI mlc-build writes for: github or gitlab\n`);
        setExit(EXIT.usage);
        return;
      }
      const project = await load(program.opts<GlobalOptions>());
      if (!project) {
        setExit(EXIT.usage);
        return;
      }
      const { manifest } = project;
      const lock = await readLock(manifest.root);
      const web = webRuntimeCommit(
        manifest,
        Object.values(lock.toolchain ?? {}).flatMap((t) => t.packages),
      );
      if (!web.ok) {
        printDiagnostics([web.error]);
        setExit(EXIT.usage);
        return;
      }
      const file = join(manifest.root, which === 'github' ? GITHUB_WORKFLOW : GITLAB_PIPELINE);
      const shown = relative(process.cwd(), file) || file;
      if (existsSync(file) && !flags.force) {
        process.stderr.write(`mlc-build: ci init: ${shown} exists; --force replaces it\n`);
        setExit(EXIT.stepFailed);
        return;
      }
      const warnings = [...ciInitWarnings(manifest), ...(web.value.kind === 'unmanaged' ? [web.value.note] : [])];
      for (const warning of warnings) process.stderr.write(`mlc-build: ci init: warning: ${warning}\n`);
      await writeFileAtomic(file, which === 'github' ? githubWorkflow(manifest) : gitlabPipeline(manifest));
      process.stderr.write(
        `wrote ${shown}: set ${which === 'github' ? 'the repository variable' : 'the CI/CD variable'} MLC_BUILD_REMOTE_CACHE (and the secrets its comments name), then commit it\n`,
      );
    });
}
