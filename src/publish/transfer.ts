// Counting what a commit sends, from the hub's own answers: which files preupload takes inline
// ("regular"), which LFS objects the batch answer asks for (the others the server has already),
// and the bytes of each upload PUT. A dry run also rewrites the batch answer to ask for nothing,
// so that the library sends no object while the read-only queries still say what would go.
import type { ExchangeWatcher } from './hub.js';

export interface Sent {
  /** Files sent: inline in the commit, or as LFS objects the server lacked. */
  files: number;
  bytes: number;
  /** LFS objects the server already had (a resumed or repeated upload). */
  skipped: number;
}

interface BatchAnswer {
  objects?: { oid: string; size: number; actions?: { upload?: unknown } }[];
}
interface PreuploadAnswer {
  files?: { path: string; uploadMode: string }[];
}

export class TransferMeter {
  private readonly inline = new Set<string>();
  private readonly wanted = new Map<string, number>();
  private readonly had = new Set<string>();
  private putBytes = 0;

  /** `sizes`: each path's size, for files preupload says go inline. `dryRun`: no object is sent. */
  constructor(
    private readonly sizes: ReadonlyMap<string, number>,
    private readonly dryRun: boolean,
  ) {}

  readonly watch: ExchangeWatcher = async ({ method, url, body, response }) => {
    if (!response.ok) return response;
    if (method === 'PUT') {
      this.putBytes += body instanceof Blob ? body.size : 0;
      return response;
    }
    if (/\/preupload\/[^/]+$/.test(new URL(url).pathname)) {
      const answer = (await response.clone().json()) as PreuploadAnswer;
      for (const f of answer.files ?? []) if (f.uploadMode === 'regular') this.inline.add(f.path);
      return response;
    }
    if (!url.endsWith('/info/lfs/objects/batch')) return response;
    const answer = (await response.clone().json()) as BatchAnswer;
    for (const o of answer.objects ?? []) {
      if (o.actions?.upload === undefined) this.had.add(o.oid);
      else this.wanted.set(o.oid, o.size);
    }
    if (!this.dryRun) return response;
    const asked = { ...answer, objects: (answer.objects ?? []).map(({ oid, size }) => ({ oid, size })) };
    return new Response(JSON.stringify(asked), { status: response.status, headers: response.headers });
  };

  sent(): Sent {
    const inlineBytes = [...this.inline].reduce((n, p) => n + (this.sizes.get(p) ?? 0), 0);
    const lfsBytes = this.dryRun ? [...this.wanted.values()].reduce((a, b) => a + b, 0) : this.putBytes;
    return { files: this.inline.size + this.wanted.size, bytes: inlineBytes + lfsBytes, skipped: this.had.size };
  }
}
