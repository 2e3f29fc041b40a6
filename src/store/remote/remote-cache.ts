// A remote cache that speaks the Bazel HTTP cache protocol (bazel-remote, BuildBuddy, an nginx
// with WebDAV): blobs at cas/<sha256>, action results at ac/<key>. Our own record (key fields,
// the output tree, an optional signature) travels as one more output blob of the action result.
// It never fails a build: a failing server gives one warning, and once a direction's circuit
// opens (circuit.ts: at the first timeout, or after a few other failures) nothing more is asked
// that way in this build. What the remote holds is remembered with when it was seen, and checked
// again once that is older than `recheckAfterMs` (servers evict): missing results are sent again.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { z } from 'zod';
import { canonicalJson } from '../../canonical-json.js';
import type { KeyFields } from '../../keys.js';
import { fileSink, HttpClient, transient, type Answer, type NetFailure, type StreamBody } from '../../net/index.js';
import type { Result } from '../../result.js';
import { writeFileAtomic } from '../atomic.js';
import { MISS, type CacheProvider, type Holding, type ProviderAnswer, type ProviderStats } from '../cache.js';
import type { ActionRecord, Store } from '../store.js';
import { decodeActionResult, encodeActionResult, type ActionResult, type Digest } from './bazel.js';
import { Circuit, MAX_FAILURES, type Direction } from './circuit.js';
import { redact, type RemoteSettings } from './settings.js';

/** The output file of an action result that holds our record. */
export const RECORD_PATH = '.mlc-build/record.json';

/** What the record blob holds. The signature covers the rest, the key included (no replay under another key). */
interface RecordBlob {
  mlc_build: 1;
  key: string;
  record: ActionRecord;
  fields: KeyFields;
  signature?: string;
}

/** A record blob as it arrives: checked before anything in it is used; unknown fields kept (the signature covers them). */
const RecordBlobSchema = z.looseObject({
  mlc_build: z.literal(1),
  key: z.string(),
  record: z.looseObject({
    key: z.string(),
    node: z.string(),
    outputs: z.record(z.string(), z.looseObject({ digest: z.string(), size: z.number() })),
    log: z.string().optional(),
    facts: z.record(z.string(), z.number()).optional(),
    durationMs: z.number(),
    createdAt: z.string(),
  }),
  fields: z.record(z.string(), z.unknown()).optional(),
  signature: z.string().optional(),
});

/** Read size of an upload: 1 MiB writes keep up with curl -T where 64 KiB ones reach ~0.7× of it. */
const UPLOAD_CHUNK = 1 << 20;
/** Refused results or blobs reported one by one; the rest are summed up in one more warning. */
const MAX_REFUSAL_WARNINGS = 5;
/** Resumed GETs of one blob after a cut connection or a 5xx (never after a timeout: see circuit.ts). */
const MAX_RESUMES = 5;
/** Small bodies (action results, records) are read whole; anything larger is not one. */
const SMALL_LIMIT = 16 << 20;

export class RemoteCache implements CacheProvider {
  readonly name = 'remote';
  readonly label: string;
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`);
  private readonly client: HttpClient;
  /** Blob transfers: as many at once as the net pool allows. */
  private readonly transfers: LimitFunction;
  /** Small requests (results, HEADs): latency-bound, so more at once. */
  private readonly small: LimitFunction = pLimit(16);
  private readonly circuit = new Circuit();
  private readonly fields = new Map<string, KeyFields>();
  private readonly stats = { fetchedBytes: 0, uploadedBytes: 0, uploadFailures: 0, uploads: 0 };
  /** Keys the remote was seen to hold, and when (persisted), so a no-op build asks it nothing. */
  private readonly known: Map<string, number>;
  private knownChanged = false;
  /** Keys this build relied on the remote holding: the earliest of their re-checks is due soonest. */
  private readonly relied = new Set<string>();
  private warned = false;
  private refusals = 0;
  private readonly knownFile: string;

  constructor(
    readonly settings: RemoteSettings,
    opts: { concurrency: number; storeRoot: string },
  ) {
    this.label = `the remote cache (${settings.display})`;
    this.client = new HttpClient({ headers: settings.headers, timeouts: settings.timeouts, maxSockets: 32 });
    this.transfers = pLimit(Math.max(1, opts.concurrency));
    this.knownFile = join(opts.storeRoot, 'remote', `${createHash('sha256').update(settings.base).digest('hex').slice(0, 16)}.json`);
    this.known = readKnown(this.knownFile);
  }

  async getRecord(key: string): Promise<ProviderAnswer<ActionRecord>> {
    const body = await this.getSmall(`/ac/${key}`, { accept: 'application/json' });
    if (body.kind !== 'found') return body;
    const result = decodeActionResult(body.value);
    if (!result.ok) return this.refused(`${this.label}: the result under key ${short(key)} is unreadable (${result.error}); ignored`);
    const entry = result.value.outputFiles.find((f) => f.path === RECORD_PATH);
    if (!entry) return MISS; // a result some other tool wrote under this key
    const blob = await this.fetchSmall(entry.digest);
    if (blob.kind !== 'found') return blob;
    const parsed = this.checkRecord(key, blob.value);
    if (parsed.kind !== 'found') return parsed;
    this.fields.set(key, parsed.value.fields);
    this.remember(key);
    return { kind: 'found', value: parsed.value.record };
  }

  getFields(key: string): Promise<KeyFields | undefined> {
    return Promise.resolve(this.fields.get(key));
  }

  async hasBlob(digest: string): Promise<boolean> {
    const head = await this.ask('read', `HEAD /cas/${short(digest)}`, (signal) => this.client.head(this.url(`/cas/${digest}`), { signal }));
    if (!head) return false;
    if (head.status === 200) return true;
    if (head.status !== 404) this.failed('read', `HEAD /cas/${short(digest)}`, { reason: 'http-status', status: head.status, message: `HTTP ${head.status}` });
    return false;
  }

  /**
   * Writes a blob into `path`, hashed as it is written; found: that sha256 (the store compares it
   * with the digest: nothing here is trusted). A connection cut mid-transfer is resumed by the net
   * layer with Range from the last byte received; a body that stalls is given up (and reported).
   */
  async saveBlob(blob: { digest: string; size?: number }, path: string): Promise<ProviderAnswer<string>> {
    if (this.circuit.isOpen('read')) return this.notAsked();
    return this.transfers(async (): Promise<ProviderAnswer<string>> => {
      const signal = this.circuit.signal('read');
      if (signal.aborted) return this.notAsked(); // it opened while this one waited for its slot
      let counted = 0;
      const got = await this.client.download(this.url(`/cas/${blob.digest}`), await fileSink(path), {
        signal,
        ...(blob.size !== undefined ? { expected: { size: blob.size } } : {}),
        retry: { retries: MAX_RESUMES, baseMs: 200, maxMs: 2000 },
        retryIf: (f) => transient(f) && f.reason !== 'timeout',
        onProgress: (held) => {
          this.stats.fetchedBytes += held - counted;
          counted = held;
        },
      });
      if (got.ok) return { kind: 'found', value: got.value.sha256 };
      if (got.error.reason === 'http-status' && got.error.status === 404) return MISS;
      return this.failed('read', `GET /cas/${short(blob.digest)}`, got.error);
    });
  }

  /** Uploads a result whose blobs are in the local store: missing blobs first, then the action result. */
  async upload(record: ActionRecord, fields: KeyFields, local: Store): Promise<void> {
    if (this.settings.readOnly) return;
    if (this.circuit.isOpen('write')) {
      this.stats.uploadFailures++; // not sent: the next build tries again
      return;
    }
    const body: RecordBlob = { mlc_build: 1, key: record.key, record, fields };
    if (this.settings.signingKey) body.signature = sign(this.settings.signingKey, body);
    const recordBlob = Buffer.from(JSON.stringify(body));
    const recordDigest = { hash: sha256(recordBlob), size: recordBlob.length };
    const blobs = Object.values(record.outputs).map((f) => ({ hash: f.digest, size: f.size }));
    let log: Digest | undefined;
    if (record.log && (await local.hasBlob(record.log))) {
      log = { hash: record.log, size: readSize(local.blobPath(record.log)) };
      blobs.push(log);
    }
    const sent = await Promise.all(
      dedupe(blobs).map((d) => this.putBlob(d, () => ({ stream: createReadStream(local.blobPath(d.hash), { highWaterMark: UPLOAD_CHUNK }), length: d.size }))),
    );
    if (sent.includes(false) || !(await this.putBlob(recordDigest, () => recordBlob))) {
      this.stats.uploadFailures++;
      return;
    }
    const result = encodeActionResult({
      outputFiles: [
        ...Object.entries(record.outputs).map(([path, f]) => ({ path, digest: { hash: f.digest, size: f.size } })),
        { path: RECORD_PATH, digest: recordDigest },
      ],
      exitCode: 0,
      ...(log ? { stdout: log } : {}),
    });
    const put = await this.ask('write', `PUT /ac/${short(record.key)}`, (signal) =>
      this.client.put(this.url(`/ac/${record.key}`), result, { headers: { 'content-type': 'application/json' }, signal }),
    );
    if (!put) {
      this.stats.uploadFailures++;
      return;
    }
    this.stats.uploads++;
    this.remember(record.key);
  }

  /**
   * Uploads a result from the local store unless the remote holds it: seen there less than
   * `recheckAfterMs` ago, or found there whole now (its entry and every blob it names).
   */
  async seed(record: ActionRecord, fields: KeyFields, local: Store): Promise<void> {
    if (this.settings.readOnly) return;
    this.relied.add(record.key);
    const seen = this.known.get(record.key);
    if (seen !== undefined && Date.now() - seen < this.settings.recheckAfterMs) return;
    switch (await this.check(record.key, 'write')) {
      case 'held':
        this.remember(record.key);
        return;
      case 'lacks':
        this.forget(record.key);
        await this.upload(record, fields, local);
        return;
      case 'unknown':
        this.stats.uploadFailures++; // not known to be there: the next build asks again
        return;
    }
  }

  /** Whether the remote holds a result whole, asked now: for status. */
  holds(key: string): Promise<Holding> {
    return this.check(key, 'read');
  }

  /** For doctor: whether the server answers, and (unless read-only) accepts a blob and serves it back. */
  async probe(): Promise<{ answers: string | undefined; writes: string | undefined }> {
    const body = Buffer.from('mlc-build doctor probe\n'); // content-addressed: the same small blob every time
    const url = this.url(`/cas/${sha256(body)}`);
    const status = async (send: () => Promise<Result<Answer, NetFailure>>): Promise<number | string> => {
      const r = await send();
      if (r.ok) return r.value.status;
      return r.error.reason === 'http-status' ? r.error.status : this.redacted(r.error.message);
    };
    const head = await status(() => this.client.head(url));
    const answers = typeof head === 'string' ? head : head === 200 || head === 404 ? undefined : `HEAD /cas/… answered HTTP ${head}`;
    if (answers || this.settings.readOnly) return { answers, writes: answers ? undefined : 'read-only' };
    const put = await status(() => this.client.put(url, body));
    if (typeof put === 'string') return { answers, writes: put };
    if (!ok2xx(put)) return { answers, writes: `PUT /cas/… answered HTTP ${put}` };
    const again = await status(() => this.client.head(url));
    return { answers, writes: again === 200 ? undefined : `a blob it accepted is not there (HEAD answered ${again})` };
  }

  providerStats(): ProviderStats {
    const due = [...this.relied].map((k) => (this.known.get(k) ?? 0) + this.settings.recheckAfterMs);
    return {
      ...(due.length > 0 && !this.settings.readOnly ? { recheckAt: Math.min(...due) } : {}),
      server: this.settings.display,
      fetchedBytes: this.stats.fetchedBytes,
      uploadedBytes: this.stats.uploadedBytes,
      uploadFailures: this.stats.uploadFailures,
      uploads: this.stats.uploads,
    };
  }

  async close(): Promise<void> {
    this.client.close();
    if (!this.knownChanged || this.settings.readOnly) return; // the memo serves uploads only
    try {
      mkdirSync(join(this.knownFile, '..'), { recursive: true });
      await writeFileAtomic(this.knownFile, JSON.stringify({ seen: Object.fromEntries([...this.known].sort(([a], [b]) => a.localeCompare(b))) }));
    } catch {
      // a cache of a cache: losing it costs a HEAD per result next time
    }
  }

  private url(path: string): string {
    return this.settings.base + path;
  }

  /**
   * Whether the remote holds a result whole: its entry, and every blob the entry names (a server
   * that evicts may keep one and not the others). Unknown when it could not be asked.
   */
  private async check(key: string, direction: Direction): Promise<Holding> {
    const entry = await this.getSmall(`/ac/${key}`, { accept: 'application/json' }, direction);
    if (entry.kind === 'failed') return 'unknown';
    if (entry.kind === 'miss') return 'lacks';
    const result = decodeActionResult(entry.value);
    if (!result.ok) return 'lacks'; // ours, sent again, replaces it
    const heads = await Promise.all(
      namedBlobs(result.value).map((d) =>
        this.ask(direction, `HEAD /cas/${short(d.hash)}`, (signal) => this.client.head(this.url(`/cas/${d.hash}`), { signal })),
      ),
    );
    if (heads.some((h) => h === undefined || (h.status !== 200 && h.status !== 404))) return 'unknown';
    return heads.every((h) => h?.status === 200) ? 'held' : 'lacks';
  }

  /** Sends a blob unless the remote has it (HEAD first). */
  private async putBlob(d: Digest, body: () => Buffer | StreamBody): Promise<boolean> {
    const head = await this.ask('write', `HEAD /cas/${short(d.hash)}`, (signal) => this.client.head(this.url(`/cas/${d.hash}`), { signal }));
    if (!head) return false;
    if (head.status === 200) return true;
    const what = `PUT /cas/${short(d.hash)} (${d.size} bytes)`;
    const signal = this.circuit.signal('write');
    return this.transfers(async () => {
      if (signal.aborted) return false;
      const put = await this.client.put(this.url(`/cas/${d.hash}`), body(), { signal });
      if (!put.ok) {
        const tooLarge = put.error.reason === 'http-status' && put.error.status === 413;
        this.failed('write', what, tooLarge ? { ...put.error, message: 'HTTP 413: the server refuses a blob this large' } : put.error);
        return false;
      }
      this.stats.uploadedBytes += d.size;
      return true;
    });
  }

  /** A small blob (our record), read whole and checked against its digest. */
  private async fetchSmall(d: Digest): Promise<ProviderAnswer<Buffer>> {
    const body = await this.getSmall(`/cas/${d.hash}`); // a 404: a result naming a missing blob, a miss
    if (body.kind !== 'found') return body;
    if (sha256(body.value) !== d.hash) return this.refused(`${this.label}: blob ${short(d.hash)} arrived with another digest; refused`);
    this.stats.fetchedBytes += body.value.length;
    return body;
  }

  /** Our record from its blob, if it is for this key and (with a signing key) signed by it. */
  private checkRecord(key: string, blob: Buffer): ProviderAnswer<{ record: ActionRecord; fields: KeyFields }> {
    let json: unknown;
    try {
      json = JSON.parse(blob.toString('utf8'));
    } catch {
      return this.refused(`${this.label}: the record under key ${short(key)} is not JSON; ignored`);
    }
    const shape = RecordBlobSchema.safeParse(json);
    if (!shape.success) return MISS;
    const parsed = shape.data;
    if (parsed.key !== key || parsed.record.key !== key)
      return this.refused(`${this.label}: the result under key ${short(key)} is the result of key ${short(parsed.key)}; refused`);
    const signingKey = this.settings.signingKey;
    if (signingKey) {
      const signature = parsed.signature;
      if (signature === undefined)
        return this.refused(
          `${this.label}: the result for ${parsed.record.node} (key ${short(key)}) is not signed; refused (MLC_BUILD_REMOTE_SIGNING_KEY is set)`,
        );
      const want = Buffer.from(sign(signingKey, { mlc_build: 1, key: parsed.key, record: parsed.record, fields: parsed.fields ?? {} }), 'hex');
      const got = Buffer.from(signature, 'hex');
      if (got.length !== want.length || !timingSafeEqual(got, want))
        return this.refused(`${this.label}: the result for ${parsed.record.node} (key ${short(key)}) has a bad signature; refused`);
    }
    return { kind: 'found', value: { record: parsed.record, fields: parsed.fields ?? {} } };
  }

  /** Seen there now. */
  private remember(key: string): void {
    this.relied.add(key);
    this.known.set(key, Date.now());
    this.knownChanged = true;
  }

  private forget(key: string): void {
    if (this.known.delete(key)) this.knownChanged = true;
  }

  /** Not asked: its circuit is open in this build. */
  private notAsked(): ProviderAnswer<never> {
    return { kind: 'failed', reason: 'not-asked', message: 'not asked again in this build' };
  }

  /**
   * A small request, with its failure counted; undefined when it failed or was not sent. The
   * circuit is looked at again once a slot is free: work queued behind a failing server is dropped.
   */
  private async ask<T>(direction: Direction, what: string, send: (signal: AbortSignal) => Promise<Result<T, NetFailure>>): Promise<T | undefined> {
    const signal = this.circuit.signal(direction);
    if (signal.aborted) return undefined;
    // The failure is counted before the slot is let go, so the request queued next sees an open circuit.
    return this.small(async () => {
      if (signal.aborted) return undefined;
      const answer = await send(signal);
      if (answer.ok) return answer.value;
      this.failed(direction, what, answer.error);
      return undefined;
    });
  }

  /**
   * A small body (an action result, our record), read whole within the same slot as its request:
   * a response left unread while waiting for another slot would hold its socket and starve the
   * requests queued before it. A 404 is a miss, without a warning.
   */
  private async getSmall(path: string, headers: Record<string, string> = {}, direction: Direction = 'read'): Promise<ProviderAnswer<Buffer>> {
    const signal = this.circuit.signal(direction);
    if (signal.aborted) return this.notAsked();
    const what = `GET ${path.replace(/[0-9a-f]{64}$/, short)}`;
    return this.small(async (): Promise<ProviderAnswer<Buffer>> => {
      if (signal.aborted) return this.notAsked();
      const answer = await this.client.getSmall(this.url(path), { headers, limit: SMALL_LIMIT, signal });
      if (answer.ok) return { kind: 'found', value: answer.value.body };
      if (answer.error.reason === 'http-status' && answer.error.status === 404) return MISS;
      return this.failed(direction, what, answer.error);
    });
  }

  /** A refused result or blob is a miss: a warning for each of the first few, then one saying that more are not reported. */
  private refused(message: string): ProviderAnswer<never> {
    this.refusals++;
    if (this.refusals <= MAX_REFUSAL_WARNINGS) this.warn(this.redacted(message));
    else if (this.refusals === MAX_REFUSAL_WARNINGS + 1) this.warn(`${this.label}: more results are refused; further refusals are not reported in this build`);
    return MISS;
  }

  /**
   * A failure (not a miss): one warning, naming the server, what failed and why; the rest are
   * counted (the summary shows failed uploads) by the circuit. A request the circuit aborted is
   * neither counted nor reported: the failure that opened it was.
   */
  private failed(direction: Direction, what: string, failure: NetFailure): ProviderAnswer<never> {
    if (failure.reason === 'aborted' && this.circuit.isOpen(direction)) return this.notAsked();
    const opened = this.circuit.fail(direction, failure);
    const message = this.redacted(failure.message);
    if (!this.warned) {
      this.warned = true;
      this.warn(`${this.label}: ${what} failed (${describeReason(failure)}): ${message}; ${consequence(direction, opened)}`);
    }
    return { kind: 'failed', reason: failure.reason, message };
  }

  private redacted(text: string): string {
    return redact(text, this.settings.secrets);
  }
}

/** What the build does about a failure, in the one warning it gives. */
function consequence(direction: Direction, opened: readonly Direction[]): string {
  if (opened.length === 2) return 'it is not asked again in this build, and the build goes on without it';
  const without = direction === 'read' ? 'the build goes on without it where it fails' : 'results stay in the local store only where it fails';
  const then =
    opened.length > 0 ? `it is not asked again for ${direction}s in this build` : `after ${MAX_FAILURES} failures it is not asked again in this build`;
  return `${without} (${then})`;
}

/** The kind of failure in a few words: a timeout names its phase, so a reader knows it was not a miss. */
function describeReason(f: NetFailure): string {
  switch (f.reason) {
    case 'timeout':
      return `${f.phase} timeout`;
    case 'connection':
      return `connection ${f.code}`;
    case 'http-status':
      return `HTTP ${f.status}`;
    case 'digest-mismatch':
    case 'size-mismatch':
    case 'too-large':
    case 'write':
    case 'aborted':
      return f.reason;
  }
}

function sign(key: string, body: Omit<RecordBlob, 'signature'>): string {
  return createHmac('sha256', key)
    .update(canonicalJson({ key: body.key, record: body.record, fields: body.fields }))
    .digest('hex');
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function short(hex: string): string {
  return `${hex.slice(0, 12)}…`;
}

function ok2xx(status: number): boolean {
  return status >= 200 && status < 300;
}

function dedupe(ds: Digest[]): Digest[] {
  return [...new Map(ds.map((d) => [d.hash, d])).values()];
}

function readSize(path: string): number {
  return statSync(path).size;
}

/** The blobs an action result names: its outputs (our record among them) and its log. */
function namedBlobs(result: ActionResult): Digest[] {
  return dedupe([...result.outputFiles.map((f) => f.digest), ...(result.stdout ? [result.stdout] : [])]);
}

/** Keys and when the remote was seen to hold them; an older memo (a list of keys) says when as "long ago". */
function readKnown(file: string): Map<string, number> {
  const known = new Map<string, number>();
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return known;
  }
  if (Array.isArray(v)) for (const k of v) if (typeof k === 'string') known.set(k, 0);
  const seen = typeof v === 'object' && v !== null && 'seen' in v ? v.seen : undefined;
  if (typeof seen === 'object' && seen !== null) for (const [k, t] of Object.entries(seen)) if (typeof t === 'number') known.set(k, t);
  return known;
}
