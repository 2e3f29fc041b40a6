// The command lines a no-op stamp can answer, read without commander (the fast path must not load
// it): `[build] [SELECTOR…]` with -j N, -k, --json, and `status [SELECTOR…]` with --json; -C DIR
// and --all-hosts anywhere. Anything else (another option, a repeated -C, `--`) is left to the full
// CLI. The grammar is deliberately narrow: two command lines that read the same here must mean the
// same to commander, and the full path writes a stamp only when its own reading agrees with this one.
import { join, resolve } from 'node:path';
import { allHostsRequested } from '../app/all-hosts.js';
import type { NoopRequest } from '../app/noop-stamp.js';
import { COMMANDS } from './command-names.js';

export interface ReadRequest {
  request: NoopRequest;
  /** The folder the command runs in (-C applied). */
  cwd: string;
}

/** The manifest file the fast path looks for in the folder it runs in. */
export const MANIFEST_FILE = 'mlc.build.yaml';
const POSITIVE_INTEGER = /^[1-9][0-9]*$/;

/** The value of an option given as `--name=value`, or undefined. */
function inline(word: string, name: string): string | undefined {
  return word.startsWith(`${name}=`) ? word.slice(name.length + 1) : undefined;
}

/** argv as a stamped request, or undefined if it is not one this grammar reads. */
export function readNoopRequest(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): ReadRequest | undefined {
  let command: NoopRequest['command'] | undefined;
  let directory: string | undefined;
  let allHosts = allHostsRequested(false, env);
  let json = false;
  const selectors: string[] = [];
  /** Options of the build command seen before its name: commander would not take them as build's. */
  let commandOptionsSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    const next = argv[i + 1];
    if (word === '-C' || word === '--directory' || inline(word, '--directory') !== undefined) {
      const value = inline(word, '--directory') ?? next;
      if (directory !== undefined || value === undefined || value === '' || value.startsWith('-')) return undefined;
      directory = value;
      if (inline(word, '--directory') === undefined) i++;
    } else if (word === '--all-hosts') {
      allHosts = true;
    } else if (word === '--json') {
      json = true;
      commandOptionsSeen = true;
    } else if (word === '-k' || word === '--keep-going') {
      commandOptionsSeen = true; // a no-op has nothing to keep going after
    } else if (word === '-j' || word === '--jobs' || inline(word, '--jobs') !== undefined) {
      const value = inline(word, '--jobs') ?? next;
      if (value === undefined || !POSITIVE_INTEGER.test(value)) return undefined; // the CLI says what is wrong
      if (inline(word, '--jobs') === undefined) i++;
      commandOptionsSeen = true; // a no-op runs nothing, so no cap changes it
    } else if (word.startsWith('-')) {
      return undefined;
    } else if (command === undefined && selectors.length === 0 && COMMANDS.includes(word)) {
      if (word !== 'build' && word !== 'status') return undefined;
      if (commandOptionsSeen) return undefined;
      command = word;
    } else if (COMMANDS.includes(word)) {
      return undefined; // a misplaced command: the CLI says so
    } else {
      selectors.push(word);
    }
  }
  command ??= 'build';
  if (command === 'status' && argv.some((w) => w === '-k' || w === '--keep-going' || w === '-j' || w.startsWith('--jobs'))) return undefined;
  return { request: { command, selectors, allHosts, json }, cwd: directory === undefined ? cwd : resolve(cwd, directory) };
}

/**
 * Whether a full run may stamp its command line: the fast path read it (`read`) as the CLI did
 * (`asked`), in the folder of the project's mlc.build.yaml (the file the fast path checks).
 */
export function stampable(read: ReadRequest | undefined, asked: NoopRequest, manifest: { root: string; file: string }): boolean {
  return (
    read !== undefined &&
    JSON.stringify(read.request) === JSON.stringify(asked) &&
    read.cwd === manifest.root &&
    manifest.file === join(manifest.root, MANIFEST_FILE)
  );
}
