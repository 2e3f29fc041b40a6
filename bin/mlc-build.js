#!/usr/bin/env node
import { main } from '../lib/cli/main.js';

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
