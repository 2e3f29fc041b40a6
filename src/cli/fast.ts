// The first thing bin/mlc-build.js runs: a command line a no-op stamp can answer (noop-request.ts)
// in a folder with mlc.build.yaml whose stamp still holds is answered from stats alone, printing
// what the full run printed, without loading the build code (app/noop-stamp.ts says what the stamp
// covers). MLC_BUILD_NOOP_TRACE=1 says on stderr whether the stamp answered, or why not.
import { existsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkStamp, type Printed } from '../app/noop-stamp.js';
import { tookText } from '../report/took.js';
import { MANIFEST_FILE, readNoopRequest } from './noop-request.js';

export function tryNoop(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): number | undefined {
  const started = Date.now(); // performance.now() would load perf_hooks: a millisecond of start-up
  const trace = env.MLC_BUILD_NOOP_TRACE ? (s: string) => write(2, `mlc-build: no-op stamp: ${s}\n`) : undefined;
  const read = readNoopRequest(argv, cwd, env);
  if (read === undefined) {
    trace?.('not a command line a stamp answers');
    return undefined;
  }
  const manifest = join(read.cwd, MANIFEST_FILE);
  if (!existsSync(manifest)) {
    trace?.(`no ${MANIFEST_FILE} in ${read.cwd}`);
    return undefined;
  }
  let checked: ReturnType<typeof checkStamp>;
  try {
    checked = checkStamp(read.cwd, manifest, read.request, env);
  } catch (e) {
    // A stamp of another shape (hand-edited, half-written by a crashed writer): the full path decides.
    checked = { void: `unreadable stamp (${e instanceof Error ? e.message : String(e)})` };
  }
  if ('void' in checked) {
    trace?.(`void: ${checked.void}`);
    return undefined;
  }
  trace?.(`answered from ${checked.stats} stats`);
  print(checked.printed, Date.now() - started);
  return 0;
}

/**
 * A closed stdout or stderr (`mlc-build --json | head -1`) is no reason to stop: the build goes on
 * without printing, completes and records its results; nothing prints a stack trace for it.
 */
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
    throw e;
  });
}

type Fd = 1 | 2;
/** Descriptors whose reader is gone (EPIPE): nothing more is written to them. */
const closed = new Set<Fd>();
/** Descriptors that were full (EAGAIN): the rest goes through the stream, which waits. */
const streamed = new Set<Fd>();

/**
 * Writes straight to the descriptor: opening process.stdout or process.stderr (a pipe becomes a
 * socket) would cost the fast path milliseconds of start-up.
 */
function write(fd: Fd, text: string): void {
  if (closed.has(fd)) return;
  const stream = fd === 1 ? process.stdout : process.stderr;
  if (streamed.has(fd)) {
    stream.write(text);
    return;
  }
  let rest = Buffer.from(text);
  try {
    while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') closed.add(fd);
    else if (code === 'EAGAIN') {
      streamed.add(fd);
      quietOnClosedPipe(stream);
      stream.write(rest);
    } else throw e;
  }
}

function print(printed: readonly Printed[], ms: number): void {
  for (const p of printed) {
    const fd = p.to === 'stdout' ? 1 : 2;
    if ('text' in p) write(fd, p.text);
    else if ('took' in p) write(fd, tookText(ms));
    else write(fd, JSON.stringify({ ...p.summary, ms }) + '\n');
  }
}
