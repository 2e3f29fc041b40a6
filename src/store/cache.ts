// The action cache: a key's recorded result, and the blobs it names. The local store answers
// first; other providers (a remote cache) are asked after it, and a hit there fills the local
// store. A result whose blobs are missing or do not match is a miss. Results recorded or found
// locally are offered to providers that take uploads; the build waits for them at its end.
import type { KeyFields } from '../keys.js';
import { err, ok, type Result } from '../result.js';
import type { ActionRecord, Files, Store } from './store.js';

/** A result found in the cache. */
export interface CacheHit {
  record: ActionRecord;
  /** Where it was found: `local`, or the provider's name. */
  from: string;
  /** How messages name where it was found (e.g. `the remote cache (host:port)`). */
  label?: string;
  /** The outputs, when they can be read on this machine without a transfer (a local hit). */
  local?: Files;
  /** Brings the outputs into the local store and returns them; an error makes the hit a miss. */
  restore(): Promise<Result<Files, RestoreFailure>>;
}

export interface RestoreFailure {
  message: string;
  /** The provider has warned about it already (a server that stalled): the step runs without another word. */
  reported: boolean;
}

/** Whether a provider holds a result whole, when asked now; `unknown` when it could not be asked. */
export type Holding = 'held' | 'lacks' | 'unknown';

/** What a provider moved in one build. */
export interface ProviderStats {
  /** The server as messages name it (host:port). */
  server: string;
  fetchedBytes: number;
  uploadedBytes: number;
  uploadFailures: number;
  uploads: number;
  /** When a result this build relied on the provider holding is to be checked again (ms since the epoch). */
  recheckAt?: number;
}

/** A provider's figures for the summary, with the hits restored from it. */
export interface CacheReport extends ProviderStats {
  name: string;
  label: string;
  hits: number;
}

export interface ActionCache {
  lookup(key: string, opts: { verify: boolean }): Promise<CacheHit | undefined>;
  /** Records a result whose blobs are in the local store (and uploads it to providers that take uploads). */
  record(record: ActionRecord, fields: KeyFields): Promise<void>;
  /** A result found in the local store: providers that lack it get it (a store built before a remote seeds it). */
  offer(record: ActionRecord): void;
  /** The key fields of a result, for explain and plan reasons. */
  fields(key: string): Promise<KeyFields | undefined>;
  /** Whether each provider that can say holds a result whole, asked now (status). */
  holdings(key: string): Promise<{ provider: string; holding: Holding }[]>;
  /** Waits for the uploads under way; the providers' figures. */
  flush(): Promise<CacheReport[]>;
  /** Where providers' warnings go (a build makes them events). */
  onWarning(warn: (message: string) => void): void;
}

/**
 * What a provider says when asked for something: it has it, it does not (a miss), or it could not
 * be asked (a failure: a timeout, a refused connection, a 5xx; `reason` says which). For now a
 * failure is treated as a miss by the cache; the provider has warned about it.
 */
export type ProviderAnswer<T> = { kind: 'found'; value: T } | { kind: 'miss' } | { kind: 'failed'; reason: string; message: string };

export const MISS = { kind: 'miss' } as const;

/** Found when there is a value, else a miss (for providers that cannot fail, like another store). */
export function foundOrMiss<T>(value: T | undefined): ProviderAnswer<T> {
  return value === undefined ? MISS : { kind: 'found', value };
}

/** A cache other than the local store that results can be restored from. */
export interface CacheProvider {
  readonly name: string;
  readonly label: string;
  warn: (message: string) => void;
  getRecord(key: string): Promise<ProviderAnswer<ActionRecord>>;
  getFields(key: string): Promise<KeyFields | undefined>;
  hasBlob(digest: string): Promise<boolean>;
  /**
   * Writes a blob's bytes to `path` (a file of the local store's), hashing them as they are
   * written; found: that sha256, for the store to compare with the digest. A failure was the
   * provider's to report. `size` is the record's word for it, when known.
   */
  saveBlob(blob: { digest: string; size?: number }, path: string): Promise<ProviderAnswer<string>>;
  /** Takes a fresh result (absent for a read-only provider). */
  upload?(record: ActionRecord, fields: KeyFields, local: Store): Promise<void>;
  /** Takes a result from the local store if it lacks it. */
  seed?(record: ActionRecord, fields: KeyFields, local: Store): Promise<void>;
  /** Whether it holds a result whole (its entry and every blob), asked now. */
  holds?(key: string): Promise<Holding>;
  providerStats(): ProviderStats;
  close(): Promise<void>;
}

/** The local store first, then each provider in order. */
export class LayeredCache implements ActionCache {
  private readonly pending = new Set<Promise<void>>();
  private readonly offered = new Set<string>();
  private readonly hits = new Map<string, number>();
  private readonly fetching = new Map<string, Promise<Result<void, RestoreFailure>>>();

  constructor(
    private readonly local: Store,
    private readonly others: readonly CacheProvider[] = [],
  ) {}

  async lookup(key: string, opts: { verify: boolean }): Promise<CacheHit | undefined> {
    const record = await this.local.getRecord(key);
    if (record && (await this.local.hasOutputs(record, opts))) {
      const files = this.local.filesOf(record);
      return { record, from: 'local', local: files, restore: () => Promise.resolve(ok(files)) };
    }
    for (const other of this.others) {
      // A miss and a failure alike send the lookup on; a failure was the provider's to report.
      const answer = await other.getRecord(key).catch(unexpected);
      if (answer.kind !== 'found' || answer.value.key !== key) continue;
      const found = answer.value;
      const blobs = await Promise.all(Object.values(found.outputs).map((f) => other.hasBlob(f.digest).catch(() => false)));
      if (blobs.includes(false)) continue; // a result naming a missing blob is a miss
      return { record: found, from: other.name, label: other.label, restore: () => this.fill(other, found) };
    }
    return undefined;
  }

  /** Copies a provider's result into the local store, each blob verified as it is written, all in parallel. */
  private async fill(other: CacheProvider, record: ActionRecord): Promise<Result<Files, RestoreFailure>> {
    const results = await Promise.all(
      dedupeBlobs(Object.values(record.outputs)).map(async (blob): Promise<Result<void, RestoreFailure>> => {
        // Results share blobs (a tokenizer, a config): one fetch per blob at a time, none for a blob already here.
        const pending = this.fetching.get(blob.digest);
        if (pending) return pending;
        const fetching = this.fetchBlob(other, blob).finally(() => this.fetching.delete(blob.digest));
        this.fetching.set(blob.digest, fetching);
        return fetching;
      }),
    );
    for (const r of results) if (!r.ok) return err(r.error);
    await this.local.putRecord(record, (await other.getFields(record.key).catch(() => undefined)) ?? {});
    this.hits.set(other.name, (this.hits.get(other.name) ?? 0) + 1);
    return ok(this.local.filesOf(record));
  }

  private async fetchBlob(other: CacheProvider, blob: { digest: string; size: number }): Promise<Result<void, RestoreFailure>> {
    const short = blob.digest.slice(0, 12);
    // Written to a file of the store's and hashed as it comes; the store keeps it only if the digest matches.
    const stored = await this.local.ingestWritten(blob.digest, async (path) => {
      const saved = await other.saveBlob(blob, path).catch(unexpected);
      return saved.kind === 'found' ? ok(saved.value) : err(saved);
    });
    if (stored.ok) return stored;
    const failure = stored.error;
    if (failure.stage === 'store') return err({ message: failure.message, reported: false });
    switch (failure.why.kind) {
      case 'miss':
        return err({ message: `blob ${short}… is gone`, reported: false });
      case 'failed':
        return err({
          message: `blob ${short}… could not be fetched (${failure.why.reason}): ${failure.why.message}`,
          reported: failure.why.reason !== 'unexpected',
        });
    }
  }

  async record(record: ActionRecord, fields: KeyFields): Promise<void> {
    await this.local.putRecord(record, fields);
    this.offered.add(record.key);
    for (const other of this.others) if (other.upload) this.track(other.upload(record, fields, this.local));
  }

  offer(record: ActionRecord): void {
    if (this.offered.has(record.key)) return;
    this.offered.add(record.key);
    for (const other of this.others) {
      const seed = other.seed?.bind(other);
      // The stored record over the one a fresh step is known by (that one has no log, no creation time).
      const stored = Promise.all([this.local.getRecord(record.key), this.local.getFields(record.key)]);
      if (seed) this.track(stored.then(([full, fields]) => seed(full ?? record, fields ?? {}, this.local)));
    }
  }

  async fields(key: string): Promise<KeyFields | undefined> {
    return this.local.getFields(key);
  }

  async holdings(key: string): Promise<{ provider: string; holding: Holding }[]> {
    const asked = this.others.map(async (o) => (o.holds ? { provider: o.label, holding: await o.holds(key).catch((): Holding => 'unknown') } : undefined));
    return (await Promise.all(asked)).filter((h) => h !== undefined);
  }

  async flush(): Promise<CacheReport[]> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await Promise.all(this.others.map((o) => o.close()));
    return this.others.map((o) => ({ name: o.name, label: o.label, hits: this.hits.get(o.name) ?? 0, ...o.providerStats() }));
  }

  onWarning(warn: (message: string) => void): void {
    for (const o of this.others) o.warn = warn;
  }

  private track(p: Promise<void>): void {
    // An upload never fails the build: the provider has said what went wrong.
    const q = p.catch(() => undefined).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }
}

/** A provider that throws has a bug; the build still goes on without it. */
function unexpected(e: unknown): ProviderAnswer<never> {
  return { kind: 'failed', reason: 'unexpected', message: e instanceof Error ? e.message : String(e) };
}

/** One of each blob (by digest). */
function dedupeBlobs(blobs: { digest: string; size: number }[]): { digest: string; size: number }[] {
  return [...new Map(blobs.map((b) => [b.digest, { digest: b.digest, size: b.size }])).values()];
}
