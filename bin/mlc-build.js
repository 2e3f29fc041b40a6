#!/usr/bin/env node
// The CLI is one bundled, minified module (lib/cli/main.bundle.mjs, made by `npm run build`):
// start-up is most of a no-op build, and loading ~100 small modules costs more than the work.
import { main } from '../lib/cli/main.bundle.mjs';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    // A bug, not a user error: say so plainly, with the stack for the report.
    process.stderr.write(`mlc-build: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
