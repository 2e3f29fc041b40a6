// sha256 of files. Node's Hash.update runs on the thread that calls it, so large files are hashed
// in worker threads, one per core: the shards of a model hash in parallel, and the event loop stays
// free meanwhile. Each read is large (1 MiB: larger ones fall out of the core's cache before they
// are hashed) and is made while the chunk before it is hashed, so a file hashes at the speed of
// the hash, not of the hash plus the reads. Small files are read whole on the calling thread.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';

export interface FileDigest {
  digest: string;
  size: number;
}

/** Files at least this large go to the worker threads; below it, a thread round trip costs more than hashing. */
export const POOLED_BYTES = 8 * 1024 * 1024;

export async function hashFile(path: string): Promise<FileDigest> {
  const small = await smallFiles(() => hashIfSmall(path));
  return small ?? hashPool().hash(path);
}

/** Small files read whole at once, so that hashing a folder of many at a time holds a bounded amount. */
const smallFiles = pLimit(8);

/** The file's digest if it is small (read whole, hashed here); undefined if it is for the pool. */
async function hashIfSmall(path: string): Promise<FileDigest | undefined> {
  const handle = await open(path, 'r');
  let bytes: Buffer;
  try {
    if ((await handle.stat()).size >= POOLED_BYTES) return undefined;
    bytes = await handle.readFile();
  } finally {
    await handle.close();
  }
  return { digest: sha256(bytes), size: bytes.length };
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

// The worker's code: it needs no file of its own, so it runs the same from the bundle, the compiled
// modules and the sources under test. It imports what it needs, so it runs whether Node evaluates it
// as a CommonJS script or (a parent started with --input-type=module) as a module.
const WORKER_SOURCE = `(async () => {
  const { parentPort } = await import('node:worker_threads');
  const { open } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const CHUNK = ${1024 * 1024};
  let a = Buffer.allocUnsafe(CHUNK);
  let b = Buffer.allocUnsafe(CHUNK);
  async function hash(path) {
    const handle = await open(path, 'r');
    try {
      const hash = createHash('sha256');
      let size = 0;
      let reading = handle.read(a, 0, CHUNK, null);
      for (;;) {
        const { bytesRead } = await reading;
        if (bytesRead === 0) break;
        // The next read fills the other buffer while this one is hashed.
        reading = handle.read(b, 0, CHUNK, null);
        hash.update(bytesRead === CHUNK ? a : a.subarray(0, bytesRead));
        size += bytesRead;
        [a, b] = [b, a];
      }
      return { digest: hash.digest('hex'), size };
    } finally {
      await handle.close();
    }
  }
  parentPort.on('message', ({ id, path }) => {
    hash(path).then(
      (d) => parentPort.postMessage({ id, ...d }),
      (e) => parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code, errno: e && e.errno, syscall: e && e.syscall, path: e && e.path } }),
    );
  });
})();
`;

type Reply =
  { id: number; digest: string; size: number } | { id: number; error: { message: string; code?: string; errno?: number; syscall?: string; path?: string } };

interface Job {
  id: number;
  path: string;
  resolve: (d: FileDigest) => void;
  reject: (e: Error) => void;
}

/** Worker threads that hash files, started when first needed; idle ones do not keep the process alive. */
export class HashPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private nextId = 0;

  constructor(readonly size: number) {}

  hash(path: string): Promise<FileDigest> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.busy.size < this.size ? this.start() : undefined);
      if (!worker) return;
      const job = this.queue.shift();
      if (!job) return;
      this.busy.set(worker, job);
      worker.ref();
      worker.postMessage({ id: job.id, path: job.path });
    }
  }

  private start(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (reply: Reply) => {
      const job = this.busy.get(worker);
      if (job?.id !== reply.id) return;
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if ('error' in reply) job.reject(Object.assign(new Error(reply.error.message), reply.error));
      else job.resolve({ digest: reply.digest, size: reply.size });
      this.dispatch();
    });
    // A worker that dies (out of memory) fails its file; the next file gets a new worker.
    worker.on('error', (e) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      job?.reject(e);
      this.dispatch();
    });
    return worker;
  }
}

let pool: HashPool | undefined;

/** The process's hashing threads: one per core the process may use. */
export function hashPool(): HashPool {
  pool ??= new HashPool(availableParallelism());
  return pool;
}
