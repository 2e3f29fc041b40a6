// The action cache: a key's recorded result, and the blobs it names. The local store answers
// first; other providers (a shared folder, a remote cache) are asked after it, and a hit there
// fills the local store. A result whose blobs are missing or do not match is a miss.
import type { Readable } from 'node:stream';
import type { KeyFields } from '../keys.js';
import { err, ok, type Result } from '../result.js';
import type { ActionRecord, Files, Store } from './store.js';

/** A result found in the cache. */
export interface CacheHit {
  record: ActionRecord;
  /** Where it was found: `local`, or the provider's name. */
  from: string;
  /** The outputs, when they can be read on this machine without a transfer (a local hit). */
  local?: Files;
  /** Brings the outputs into the local store and returns them; an error makes the hit a miss. */
  restore(): Promise<Result<Files, string>>;
}

export interface ActionCache {
  lookup(key: string, opts: { verify: boolean }): Promise<CacheHit | undefined>;
  /** Records a result whose blobs are in the local store. */
  record(record: ActionRecord, fields: KeyFields): Promise<void>;
  /** The key fields of a result, for explain and plan reasons. */
  fields(key: string): Promise<KeyFields | undefined>;
}

/** A cache other than the local store that results can be restored from. */
export interface CacheProvider {
  readonly name: string;
  getRecord(key: string): Promise<ActionRecord | undefined>;
  getFields(key: string): Promise<KeyFields | undefined>;
  hasBlob(digest: string): Promise<boolean>;
  openBlob(digest: string): Promise<Readable | undefined>;
}

/** The local store first, then each provider in order. */
export class LayeredCache implements ActionCache {
  constructor(
    private readonly local: Store,
    private readonly others: readonly CacheProvider[] = [],
  ) {}

  async lookup(key: string, opts: { verify: boolean }): Promise<CacheHit | undefined> {
    const record = await this.local.getRecord(key);
    if (record && (await this.local.hasOutputs(record, opts))) {
      const files = this.local.filesOf(record);
      return { record, from: 'local', local: files, restore: async () => ok(files) };
    }
    for (const other of this.others) {
      const found = await other.getRecord(key).catch(() => undefined);
      if (!found || found.key !== key) continue;
      const blobs = await Promise.all(Object.values(found.outputs).map((f) => other.hasBlob(f.digest).catch(() => false)));
      if (blobs.includes(false)) continue; // a result naming a missing blob is a miss
      return { record: found, from: other.name, restore: () => this.fill(other, found) };
    }
    return undefined;
  }

  /** Copies a provider's result into the local store, each blob verified as it is written. */
  private async fill(other: CacheProvider, record: ActionRecord): Promise<Result<Files, string>> {
    for (const f of Object.values(record.outputs)) {
      const stream = await other.openBlob(f.digest).catch(() => undefined);
      if (!stream) return err(`${other.name}: blob ${f.digest.slice(0, 12)}… is gone`);
      const put = await this.local.ingestStream(stream, f.digest);
      if (!put.ok) return err(`${other.name}: ${put.error}`);
    }
    await this.local.putRecord(record, (await other.getFields(record.key).catch(() => undefined)) ?? {});
    return ok(this.local.filesOf(record));
  }

  async record(record: ActionRecord, fields: KeyFields): Promise<void> {
    await this.local.putRecord(record, fields);
  }

  async fields(key: string): Promise<KeyFields | undefined> {
    return this.local.getFields(key);
  }
}
