#!/usr/bin/env node
// Start-up is most of a no-op build, so this entry is CommonJS (bin/package.json), which Node
// starts faster than an ES module, and loads two bundled, minified modules made by `npm run build`:
// fast.bundle.cjs answers a build or status whose no-op stamp still holds from stats alone;
// everything else loads the CLI (main.bundle.mjs).
'use strict';
const { tryNoop, quietOnClosedPipe } = require('../lib/cli/fast.bundle.cjs');

const argv = process.argv.slice(2);
const done = tryNoop(argv, process.cwd(), process.env);
if (done !== undefined) {
  process.exitCode = done;
} else {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  // Until main settles: if the event loop ever empties first (a bug), that must not read as success.
  let settled = false;
  process.exitCode = 70;
  process.on('exit', () => {
    if (!settled) process.stderr.write('mlc-build: internal error: stopped with work unfinished\n');
  });
  const internalError = (e) => {
    settled = true;
    // A bug, not a user error: say so plainly, with the stack for the report.
    process.stderr.write(`mlc-build: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  };
  import('../lib/cli/main.bundle.mjs').then(
    ({ main }) =>
      main(argv).then((code) => {
        settled = true;
        process.exitCode = code;
      }, internalError),
    internalError,
  );
}
