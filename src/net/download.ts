// The resumable, verified GET: bytes go into a sink while their sha256 is computed; a cut
// connection is resumed with Range from the last byte received (a server that ignores Range
// starts again from byte 0); resets, timeouts and 5xx (or what the caller says) are retried a
// bounded number of times with backoff; the size and digest a caller expects are checked at the end.
import { createHash, type Hash } from 'node:crypto';
import { err, ok, type Result } from '../result.js';
import { backoffMs, DEFAULT_RETRY, sleep, type RetryPolicy } from './backoff.js';
import type { OpenResponse } from './exchange.js';
import { abortedFailure, sizeFailure, statusFailure, transient, type NetFailure } from './failure.js';
import type { DownloadSink } from './sink.js';

export interface DownloadOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Checked at the end; on a mismatch the bytes stay in the sink for the caller to drop. */
  expected?: { size?: number; sha256?: string };
  retry?: Partial<RetryPolicy>;
  /**
   * Which failures are worth another try (default: `transient`). A cache that would rather miss
   * than wait leaves timeouts out: a server that stalled once is likely to stall again.
   */
  retryIf?: (failure: NetFailure) => boolean;
  /** Once, when the first response with a body arrives, with the whole body's size when known. */
  onStart?: (total: number | undefined) => void;
  /** Bytes held so far (resumed ones included), after each chunk. */
  onProgress?: (held: number) => void;
}

export interface Downloaded {
  size: number;
  sha256: string;
}

/** Sends the GET with these extra headers (a Range). */
export type SendGet = (headers: Record<string, string>) => Promise<Result<OpenResponse, NetFailure>>;

interface Progress {
  held: number;
  hash: Hash;
  started: boolean;
  /** A write that failed: the bytes counted as held are not all there, so nothing is resumed. */
  broken?: NetFailure;
}

export async function download(send: SendGet, sink: DownloadSink, opts: DownloadOptions = {}): Promise<Result<Downloaded, NetFailure>> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const progress = await startFrom(sink, opts.expected?.size);
  const failure = await transfer(send, sink, progress, policy, opts);
  if (failure) {
    sink.destroy(failure.message);
    return err(failure);
  }
  try {
    await sink.end();
  } catch (e) {
    return err({ reason: 'write', message: `writing the download: ${e instanceof Error ? e.message : String(e)}` });
  }
  const sha256 = progress.hash.digest('hex');
  const size = opts.expected?.size;
  if (size !== undefined && progress.held !== size) return err(sizeFailure(size, progress.held));
  const want = opts.expected?.sha256;
  if (want !== undefined && sha256 !== want)
    return err({ reason: 'digest-mismatch', expected: want, actual: sha256, message: `the bytes have sha256 ${sha256}, not the expected ${want}` });
  return ok({ size: progress.held, sha256 });
}

/** The digest of what the sink holds from before, unless it holds more than the whole (then it starts over). */
async function startFrom(sink: DownloadSink, size: number | undefined): Promise<Progress> {
  const progress: Progress = { held: sink.held, hash: createHash('sha256'), started: false };
  if (progress.held === 0) return progress;
  if (size !== undefined && progress.held > size && (await sink.rewind())) {
    progress.held = 0;
    return progress;
  }
  for await (const chunk of sink.readHeld()) progress.hash.update(chunk);
  return progress;
}

/** Tries until the body is all there, a failure that another try would not mend, or the tries run out. */
async function transfer(send: SendGet, sink: DownloadSink, progress: Progress, policy: RetryPolicy, opts: DownloadOptions): Promise<NetFailure | undefined> {
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0 && !(await sleep(backoffMs(attempt, policy), opts.signal))) return abortedFailure();
    // A partial file that is already whole (a run stopped before renaming it): nothing to ask for.
    if (progress.held > 0 && progress.held === opts.expected?.size) return undefined;
    const got = await fetchRest(send, sink, progress, opts);
    if (progress.broken) return progress.broken;
    if (got.ok) return undefined;
    if (!(opts.retryIf ?? transient)(got.error)) return got.error;
    if (attempt >= policy.retries) return { ...got.error, message: `${got.error.message} (gave up after ${attempt + 1} tries)` };
  }
}

/** One GET of the bytes not yet held. */
async function fetchRest(send: SendGet, sink: DownloadSink, progress: Progress, opts: DownloadOptions): Promise<Result<void, NetFailure>> {
  const from = progress.held;
  const answer = await send(from > 0 ? { range: `bytes=${from}-` } : {});
  if (!answer.ok) return answer;
  const res = answer.value;
  let skip = 0;
  if (res.status === 200 && from > 0) {
    // The server ignored Range and sends the whole body again: start over, or pass over what the sink has had.
    if (await sink.rewind()) {
      progress.held = 0;
      progress.hash = createHash('sha256');
    } else skip = from;
  } else if (res.status !== 200 && res.status !== 206) {
    res.discard();
    return err(statusFailure(res.status));
  }
  const length = Number(res.headers['content-length']);
  const total = Number.isNaN(length) ? undefined : res.status === 206 ? from + length : length;
  if (!progress.started) {
    progress.started = true;
    opts.onStart?.(total);
  }
  const size = opts.expected?.size;
  if (size !== undefined && total !== undefined && total !== size) {
    res.discard();
    return err(sizeFailure(size, total));
  }
  // Hashed and counted in order as each chunk comes; its write may still be under way when the next comes.
  return res.read((chunk) => {
    let fresh = chunk;
    if (skip > 0) {
      const n = Math.min(skip, fresh.length);
      skip -= n;
      fresh = fresh.subarray(n);
      if (fresh.length === 0) return undefined;
    }
    if (size !== undefined && progress.held + fresh.length > size) return sizeFailure(size, progress.held + fresh.length);
    progress.hash.update(fresh);
    progress.held += fresh.length;
    opts.onProgress?.(progress.held);
    return sink.write(fresh).then(
      () => undefined,
      (e: unknown) => (progress.broken ??= { reason: 'write', message: `writing the download: ${e instanceof Error ? e.message : String(e)}` }),
    );
  });
}
