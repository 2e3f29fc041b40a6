#!/usr/bin/env node
// Two bundled, minified modules (made by `npm run build`): start-up is most of a no-op build.
// fast.bundle.mjs answers a plain build whose no-op stamp still holds from stats alone;
// everything else loads the CLI.
import { tryNoop } from '../lib/cli/fast.bundle.mjs';

// A closed stdout or stderr (`mlc-build --json | head -1`) is no reason to stop: the build goes on
// without printing, completes and records its results; nothing prints a stack trace for it.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
    throw e;
  });
}

const argv = process.argv.slice(2);
const done = tryNoop(argv, process.cwd(), process.env);
if (done !== undefined) {
  process.exitCode = done;
} else {
  const { main } = await import('../lib/cli/main.bundle.mjs');
  // Until main settles: if the event loop ever empties first (a bug), that must not read as success.
  let settled = false;
  process.exitCode = 70;
  process.on('exit', () => {
    if (!settled) process.stderr.write('mlc-build: internal error: stopped with work unfinished\n');
  });
  main(argv).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e) => {
      settled = true;
      // A bug, not a user error: say so plainly, with the stack for the report.
      process.stderr.write(`mlc-build: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
