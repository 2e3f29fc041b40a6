#!/usr/bin/env node
// Extracts every `mlc_llm` command from the "Compile Model Libraries" page into one line each
// (backslash continuations joined), for the seed-conformance test's fixture:
//   node scripts/extract-seed-commands.mjs compile-model-libraries.rst > test/fixtures/seed-commands.txt
// Skipped: `.. code:: text` blocks (the specification's patterns, not commands) and `mlc_llm --help`.
import { readFileSync } from 'node:fs';

const lines = readFileSync(process.argv[2], 'utf8').split('\n');
const out = [];
let inTextBlock = false;
let blockIndent = -1;
for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  const directive = /^(\s*)\.\. code::\s*(\w+)/.exec(line);
  if (directive) {
    inTextBlock = directive[2] === 'text';
    blockIndent = directive[1].length;
    continue;
  }
  if (inTextBlock && line.trim() !== '' && line.search(/\S/) <= blockIndent) inTextBlock = false;
  if (inTextBlock) continue;
  const m = /^\s*(mlc_llm\s.*)$/.exec(line);
  if (!m) continue;
  let cmd = m[1];
  while (cmd.trimEnd().endsWith('\\')) {
    cmd = cmd.trimEnd().slice(0, -1) + ' ' + lines[++i].trim();
  }
  cmd = cmd.replace(/\s+/g, ' ').trim();
  if (cmd === 'mlc_llm --help') continue;
  out.push(cmd);
}
process.stdout.write(out.join('\n') + '\n');
