// A remote cache that speaks the Bazel HTTP cache protocol (bazel-remote, BuildBuddy, an nginx
// with WebDAV): blobs at cas/<sha256>, action results at ac/<key>. Our own record (key fields,
// the output tree, an optional signature) travels as one more output blob of the action result.
// It never fails a build: a failing server gives one warning, and after a few failures it is not
// asked again in this build.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import { canonicalJson } from '../../canonical-json.js';
import type { KeyFields } from '../../keys.js';
import { writeFileAtomic } from '../atomic.js';
import type { CacheProvider, ProviderStats } from '../cache.js';
import type { ActionRecord, Store } from '../store.js';
import { decodeActionResult, encodeActionResult, type Digest } from './bazel.js';
import { discard, HttpClient, readBody, type HttpResponse } from './http.js';
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

/** Waits for a free slot of `limit` and holds it until the returned function is called. */
function slot(limit: LimitFunction): Promise<() => void> {
  return new Promise((got) => {
    void limit(() => new Promise<void>((release) => got(once(release))));
  });
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** Failures of one direction after which the remote is not asked again in this build. */
const MAX_FAILURES = 3;
/** Read size of an upload: 1 MiB writes keep up with curl -T where 64 KiB ones reach ~0.7× of it. */
const UPLOAD_CHUNK = 1 << 20;
/** Refused results or blobs reported one by one; the rest are summed up in one more warning. */
const MAX_REFUSAL_WARNINGS = 5;
/** Resumed GETs of one blob after a cut connection. */
const MAX_RESUMES = 5;

type Direction = 'read' | 'write';

export class RemoteCache implements CacheProvider {
  readonly name = 'remote';
  readonly label: string;
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`);
  private readonly client: HttpClient;
  /** Blob transfers: as many at once as the net pool allows. */
  private readonly transfers: LimitFunction;
  /** Small requests (results, HEADs): latency-bound, so more at once. */
  private readonly small: LimitFunction = pLimit(16);
  private readonly failures: Record<Direction, number> = { read: 0, write: 0 };
  private readonly fields = new Map<string, KeyFields>();
  private readonly stats = { fetchedBytes: 0, uploadedBytes: 0, uploadFailures: 0, uploads: 0 };
  /** Keys the remote is known to hold (persisted), so a no-op build asks it nothing. */
  private readonly known: Set<string>;
  private knownChanged = false;
  private warned = false;
  private refusals = 0;
  private readonly knownFile: string;

  constructor(
    readonly settings: RemoteSettings,
    opts: { concurrency: number; storeRoot: string },
  ) {
    this.label = `the remote cache (${settings.display})`;
    this.client = new HttpClient(settings.base, settings.headers, { connectMs: settings.connectTimeoutMs, idleMs: settings.idleTimeoutMs });
    this.transfers = pLimit(Math.max(1, opts.concurrency));
    this.knownFile = join(opts.storeRoot, 'remote', `${createHash('sha256').update(settings.base).digest('hex').slice(0, 16)}.json`);
    this.known = new Set(readKnown(this.knownFile));
  }

  async getRecord(key: string): Promise<ActionRecord | undefined> {
    const body = await this.getSmall(`/ac/${key}`, { accept: 'application/json' });
    if (!body) return undefined;
    const result = decodeActionResult(body);
    if (!result.ok) return this.refused(`${this.label}: the result under key ${short(key)} is unreadable (${result.error}); ignored`);
    const entry = result.value.outputFiles.find((f) => f.path === RECORD_PATH);
    if (!entry) return undefined; // a result some other tool wrote under this key
    const blob = await this.fetchSmall(entry.digest);
    if (!blob) return undefined;
    const parsed = this.checkRecord(key, blob);
    if (!parsed) return undefined;
    this.fields.set(key, parsed.fields);
    this.remember(key);
    return parsed.record;
  }

  async getFields(key: string): Promise<KeyFields | undefined> {
    return this.fields.get(key);
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (this.off('read')) return false;
    const res = await this.ask('read', `HEAD /cas/${short(digest)}`, () => this.client.request('HEAD', `/cas/${digest}`));
    if (!res) return false;
    discard(res);
    if (res.status === 200) return true;
    if (res.status !== 404) this.failed('read', `HEAD /cas/${short(digest)}`, `HTTP ${res.status}`);
    return false;
  }

  /**
   * The blob's bytes as a stream. A connection cut mid-transfer is resumed with a Range request
   * from the last byte received (a server that ignores Range sends it all again; the part we have
   * is skipped). The caller hashes what arrives: nothing here is trusted.
   */
  async openBlob(digest: string): Promise<Readable | undefined> {
    if (this.off('read')) return undefined;
    const what = `GET /cas/${short(digest)}`;
    // The slot is held until the body is read or dropped, not just until the headers arrive.
    const release = await slot(this.transfers);
    const first = await this.client.request('GET', `/cas/${digest}`).catch((e: Error) => void this.failed('read', what, e.message));
    if (!first || first.status !== 200) {
      release();
      if (first && first.status !== 404) this.failed('read', what, `HTTP ${first.status}`);
      if (first) discard(first);
      return undefined;
    }
    const total = Number(first.headers['content-length'] ?? NaN);
    const self = this;
    async function* bytes(): AsyncGenerator<Buffer> {
      let res: HttpResponse = first as HttpResponse;
      let received = 0;
      for (let resumes = 0; ; resumes++) {
        let skip = res.status === 206 ? 0 : received; // a 200 to a Range request starts again from byte 0
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              const n = Math.min(skip, c.length);
              skip -= n;
              c = c.subarray(n);
              if (c.length === 0) continue;
            }
            received += c.length;
            self.stats.fetchedBytes += c.length;
            yield c;
          }
          if (Number.isNaN(total) || received >= total) return;
          throw new Error(`the connection closed after ${received} of ${total} bytes`);
        } catch (e) {
          if (resumes >= MAX_RESUMES || Number.isNaN(total)) throw e;
        }
        res = await self.client.request('GET', `/cas/${digest}`, { headers: { range: `bytes=${received}-` } });
        if (res.status !== 206 && res.status !== 200) {
          discard(res);
          throw new Error(`resuming ${what} at byte ${received}: HTTP ${res.status}`);
        }
      }
    }
    const stream = Readable.from(bytes(), { objectMode: false });
    stream.once('close', () => {
      release();
      if (!first.body.complete) first.body.destroy(); // dropped unread: do not leave the socket mid-body
    });
    return stream;
  }

  /** Uploads a result whose blobs are in the local store: missing blobs first, then the action result. */
  async upload(record: ActionRecord, fields: KeyFields, local: Store): Promise<void> {
    if (this.settings.readOnly || this.off('write')) return;
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
    if (sent.includes(false) || !(await this.putBlob(recordDigest, () => recordBlob))) return this.uploadFailed();
    const result = encodeActionResult({
      outputFiles: [
        ...Object.entries(record.outputs).map(([path, f]) => ({ path, digest: { hash: f.digest, size: f.size } })),
        { path: RECORD_PATH, digest: recordDigest },
      ],
      exitCode: 0,
      ...(log ? { stdout: log } : {}),
    });
    const what = `PUT /ac/${short(record.key)}`;
    const res = await this.ask('write', what, () =>
      this.client.request('PUT', `/ac/${record.key}`, { headers: { 'content-type': 'application/json' }, body: result }),
    );
    if (!res) return this.uploadFailed();
    discard(res);
    if (!ok2xx(res.status)) return this.uploadFailed(what, `HTTP ${res.status}`);
    this.stats.uploads++;
    this.remember(record.key);
  }

  /** Uploads a result from the local store unless the remote is known to hold it (or says so). */
  async seed(record: ActionRecord, fields: KeyFields, local: Store): Promise<void> {
    if (this.settings.readOnly || this.off('write') || this.known.has(record.key)) return;
    const res = await this.ask('write', `HEAD /ac/${short(record.key)}`, () => this.client.request('HEAD', `/ac/${record.key}`));
    if (!res) return;
    discard(res);
    if (res.status === 200) return this.remember(record.key);
    await this.upload(record, fields, local);
  }

  /** For doctor: whether the server answers, and (unless read-only) accepts a blob and serves it back. */
  async probe(): Promise<{ answers: string | undefined; writes: string | undefined | 'read-only' }> {
    const body = Buffer.from('mlc-build doctor probe\n'); // content-addressed: the same small blob every time
    const digest = sha256(body);
    const status = async (method: string, opts = {}): Promise<number | string> => {
      try {
        const res = await this.client.request(method, `/cas/${digest}`, opts);
        discard(res);
        return res.status;
      } catch (e) {
        return this.redacted((e as Error).message);
      }
    };
    const head = await status('HEAD');
    const answers = typeof head === 'string' ? head : head === 200 || head === 404 ? undefined : `HEAD /cas/… answered HTTP ${head}`;
    if (answers || this.settings.readOnly) return { answers, writes: answers ? undefined : 'read-only' };
    const put = await status('PUT', { body });
    if (typeof put === 'string') return { answers, writes: put };
    if (!ok2xx(put)) return { answers, writes: `PUT /cas/… answered HTTP ${put}` };
    const again = await status('HEAD');
    return { answers, writes: again === 200 ? undefined : `a blob it accepted is not there (HEAD answered ${again})` };
  }

  providerStats(): ProviderStats {
    return {
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
      await writeFileAtomic(this.knownFile, JSON.stringify([...this.known].sort()));
    } catch {
      // a cache of a cache: losing it costs a HEAD per result next time
    }
  }

  /** Sends a blob unless the remote has it (HEAD first). */
  private async putBlob(d: Digest, body: () => Buffer | { stream: Readable; length: number }): Promise<boolean> {
    const head = await this.ask('write', `HEAD /cas/${short(d.hash)}`, () => this.client.request('HEAD', `/cas/${d.hash}`));
    if (!head) return false;
    discard(head);
    if (head.status === 200) return true;
    const what = `PUT /cas/${short(d.hash)} (${d.size} bytes)`;
    const res = await this.transfers(() => (this.off('write') ? undefined : this.client.request('PUT', `/cas/${d.hash}`, { body: body() }))).catch(
      (e: Error) => void this.failed('write', what, e.message),
    );
    if (!res) return false;
    discard(res);
    if (!ok2xx(res.status)) {
      this.failed('write', what, res.status === 413 ? 'HTTP 413: the server refuses a blob this large' : `HTTP ${res.status}`);
      return false;
    }
    this.stats.uploadedBytes += d.size;
    return true;
  }

  /** A small blob (our record), read whole and checked against its digest. */
  private async fetchSmall(d: Digest): Promise<Buffer | undefined> {
    const body = await this.getSmall(`/cas/${d.hash}`); // a 404: a result naming a missing blob, a miss
    if (!body) return undefined;
    if (sha256(body) !== d.hash) return this.refused(`${this.label}: blob ${short(d.hash)} arrived with another digest; refused`);
    this.stats.fetchedBytes += body.length;
    return body;
  }

  /** Our record from its blob, if it is for this key and (with a signing key) signed by it. */
  private checkRecord(key: string, blob: Buffer): { record: ActionRecord; fields: KeyFields } | undefined {
    let parsed: RecordBlob;
    try {
      parsed = JSON.parse(blob.toString('utf8')) as RecordBlob;
    } catch {
      return this.refused(`${this.label}: the record under key ${short(key)} is not JSON; ignored`);
    }
    if (parsed.mlc_build !== 1 || typeof parsed.record !== 'object' || parsed.record === null || typeof parsed.record.outputs !== 'object') return undefined;
    if (parsed.key !== key || parsed.record.key !== key)
      return this.refused(`${this.label}: the result under key ${short(key)} is the result of key ${short(String(parsed.key))}; refused`);
    const signingKey = this.settings.signingKey;
    if (signingKey) {
      if (typeof parsed.signature !== 'string')
        return this.refused(
          `${this.label}: the result for ${parsed.record.node} (key ${short(key)}) is not signed; refused (MLC_BUILD_REMOTE_SIGNING_KEY is set)`,
        );
      const { signature, ...rest } = parsed;
      const want = Buffer.from(sign(signingKey, rest), 'hex');
      const got = Buffer.from(signature, 'hex');
      if (got.length !== want.length || !timingSafeEqual(got, want))
        return this.refused(`${this.label}: the result for ${parsed.record.node} (key ${short(key)}) has a bad signature; refused`);
    }
    return { record: parsed.record, fields: parsed.fields ?? {} };
  }

  private remember(key: string): void {
    if (this.known.has(key)) return;
    this.known.add(key);
    this.knownChanged = true;
  }

  private off(direction: Direction): boolean {
    return this.failures[direction] >= MAX_FAILURES;
  }

  /** A small request, with its failure counted. */
  private async ask(direction: Direction, what: string, send: () => Promise<HttpResponse>): Promise<HttpResponse | undefined> {
    if (this.off(direction)) return undefined;
    try {
      return await this.small(send);
    } catch (e) {
      this.failed(direction, what, (e as Error).message);
      return undefined;
    }
  }

  /**
   * A small body (an action result, our record), read whole within the same slot as its request:
   * a response left unread while waiting for another slot would hold its socket and starve the
   * requests queued before it. A 404 is undefined without a warning.
   */
  private async getSmall(path: string, headers: Record<string, string> = {}): Promise<Buffer | undefined> {
    if (this.off('read')) return undefined;
    const what = `GET ${path.replace(/[0-9a-f]{64}$/, short)}`;
    try {
      return await this.small(async () => {
        const res = await this.client.request('GET', path, { headers });
        if (res.status === 404) return void discard(res);
        if (res.status !== 200) return void this.failed('read', what, `HTTP ${res.status}`, res);
        return readBody(res, 16 << 20);
      });
    } catch (e) {
      this.failed('read', what, (e as Error).message);
      return undefined;
    }
  }

  /** A refused result or blob: a warning for each of the first few, then one saying that more are not reported. */
  private refused(message: string): undefined {
    this.refusals++;
    if (this.refusals <= MAX_REFUSAL_WARNINGS) this.warn(this.redacted(message));
    else if (this.refusals === MAX_REFUSAL_WARNINGS + 1) this.warn(`${this.label}: more results are refused; further refusals are not reported in this build`);
    return undefined;
  }

  private uploadFailed(what?: string, why?: string): void {
    if (what && why) this.failed('write', what, why);
    this.stats.uploadFailures++;
  }

  /** One warning, naming the server and what failed; the rest are counted (the summary shows failed uploads). */
  private failed(direction: Direction, what: string, why: string, res?: HttpResponse): void {
    if (res) discard(res);
    this.failures[direction]++;
    if (this.warned) return;
    this.warned = true;
    const then = direction === 'read' ? 'the build goes on without it where it fails' : 'results stay in the local store only where it fails';
    this.warn(this.redacted(`${this.label}: ${what} failed: ${why}; ${then} (after ${MAX_FAILURES} failures it is not asked again in this build)`));
  }

  private redacted(text: string): string {
    return redact(text, this.settings.secrets);
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

function readKnown(file: string): string[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}
