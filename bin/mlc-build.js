#!/usr/bin/env node
// Two bundled, minified modules (made by `npm run build`): start-up is most of a no-op build.
// fast.bundle.mjs answers a plain build whose no-op stamp still holds from stats alone;
// everything else loads the CLI.
import { tryNoop } from '../lib/cli/fast.bundle.mjs';

const argv = process.argv.slice(2);
const done = tryNoop(argv, process.cwd(), process.env);
if (done !== undefined) {
  process.exitCode = done;
} else {
  const { main } = await import('../lib/cli/main.bundle.mjs');
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      // A bug, not a user error: say so plainly, with the stack for the report.
      process.stderr.write(`mlc-build: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
