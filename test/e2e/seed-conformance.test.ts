// Seed conformance: for every `mlc_llm` line of "Compile Model Libraries" (the fixture was extracted
// from the page by scripts/extract-seed-commands.mjs), `plan --commands` on examples/seed-release.mlc.build.yaml gives
// a command with the same subcommand, flags and values. Paths differ where the seed overwrites one
// folder per platform and we keep one per variant; the model and the library file name must agree.
// The reverse holds too: the plan runs no command the seed does not show.
// The seed builds the Intel Mac library two ways: cross-compiled on an M-chip Mac (`metal:x86-64`, our
// `metal-x86_64` preset) or natively on an Intel Mac (`--device metal`, our `metal-intel` preset). Both
// write the same file, so one manifest holds one of them; the native lines are checked on a copy of
// the example manifest that picks `metal-intel`.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, run, tempProject } from '../helpers/cli.js';

const SEED_MANIFEST = readFileSync(new URL('../../examples/seed-release.mlc.build.yaml', import.meta.url), 'utf8');
const SEED_COMMANDS = readFileSync(join(FIXTURES, 'seed-commands.txt'), 'utf8').trim().split('\n');
const PLACEHOLDERS = ['HF_MODEL', 'OUTPUT', 'CONV_TEMPLATE'];

interface Command {
  line: string;
  sub: string;
  /** Flag → value, paths left out; `--output` spelled `-o`. */
  flags: Map<string, string>;
  /** The model a command is about: the source folder's name, or the library file name. */
  subject: string;
}

function parse(line: string): Command {
  const words = line.split(' ');
  const [, sub = '', positional = ''] = words;
  const flags = new Map<string, string>();
  let output = '';
  for (let i = 3; i < words.length; i += 2) {
    const flag = words[i] === '--output' ? '-o' : (words[i] as string);
    const value = words[i + 1] ?? '';
    if (flag === '-o') output = value;
    else flags.set(flag, value);
  }
  const subject = sub === 'compile' ? basename(output) : basename(positional.replace(/\/$/, ''));
  return { line, sub, flags, subject };
}

function sameFlags(seed: Command, ours: Command): boolean {
  if (seed.sub !== ours.sub || seed.flags.size !== ours.flags.size) return false;
  for (const [flag, value] of seed.flags) {
    if (!ours.flags.has(flag)) return false;
    if (!PLACEHOLDERS.includes(value) && ours.flags.get(flag) !== value) return false;
  }
  return true;
}

function same(seed: Command, ours: Command): boolean {
  if (!sameFlags(seed, ours)) return false;
  if (seed.subject.startsWith('OUTPUT')) return ours.subject.endsWith(seed.subject.slice('OUTPUT'.length));
  if (seed.subject === 'HF_MODEL') return true;
  return seed.subject === ours.subject;
}

describe('seed conformance', async () => {
  const planned = async (manifest: string) => {
    const dir = await tempProject({ 'mlc.build.yaml': manifest });
    const r = await run(['plan', '--commands'], { cwd: dir });
    expect(r.code).toBe(0);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('mlc_llm '))
      .map(parse);
  };
  const example = await planned(SEED_MANIFEST);
  const intelMac = await planned(SEED_MANIFEST.replace(/\bmetal-x86_64\b/, 'metal-intel'));
  const ours = [...example, ...intelMac];

  it('extracted all 72 mlc_llm lines of the seed', () => {
    expect(SEED_COMMANDS).toHaveLength(72);
  });

  it.each(SEED_COMMANDS)('%s', (line) => {
    const seed = parse(line);
    const match = ours.find((o) => same(seed, o));
    expect(match, `no planned command matches the seed line:\n  ${line}`).toBeDefined();
  });

  // Subcommand, flags and values only: the seed shows the metal:x86-64 cross-compile for RedPajama
  // alone (its Llama-2 tab repeats RedPajama's lines), and we build it for every model.
  it('runs no command the seed does not show', () => {
    const seed = SEED_COMMANDS.map(parse).filter((s) => !PLACEHOLDERS.some((p) => s.line.includes(p)));
    const extra = ours.filter((o) => !seed.some((s) => sameFlags(s, o)));
    expect(extra.map((e) => e.line)).toEqual([]);
    expect(example).toHaveLength(3 + 8 + 24);
  });
});
