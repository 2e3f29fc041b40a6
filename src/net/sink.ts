// Where a download's bytes go. A file can resume after the bytes an earlier run left and start
// again from byte 0; a stream already handed on can do neither, so after a restart the download
// skips the bytes the stream has had.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface DownloadSink {
  /** Bytes held from before this download (a partial file): the first request asks for the rest. */
  readonly held: number;
  /** Those bytes, read once to start the digest. */
  readHeld(): AsyncIterable<Buffer>;
  write(chunk: Buffer): Promise<void>;
  /** Drops every byte written; false when it cannot (a stream has passed them on). */
  rewind(): Promise<boolean>;
  /** Flushes and closes (the bytes are all there when it resolves). */
  end(): Promise<void>;
  /** Closes without flushing what is pending (a failed download); a stream's reader sees `why`. */
  destroy(why: string): void;
}

/** A file, appended to when it exists (a partial download to resume). */
export async function fileSink(path: string): Promise<DownloadSink> {
  const held = (await stat(path).catch(() => undefined))?.size ?? 0;
  let out = createWriteStream(path, { flags: held > 0 ? 'a' : 'w' });
  return {
    held,
    async *readHeld() {
      if (held === 0) return;
      for await (const chunk of createReadStream(path, { end: held - 1 })) if (Buffer.isBuffer(chunk)) yield chunk;
    },
    write: (chunk) => writeTo(out, chunk),
    async rewind() {
      await endOf(out);
      out = createWriteStream(path, { flags: 'w' });
      return true;
    },
    end: () => endOf(out),
    destroy: () => {
      out.destroy();
    },
  };
}

/** A stream (a consumer reading as the bytes arrive): it cannot rewind. */
export function streamSink(out: Writable): DownloadSink {
  return {
    held: 0,
    async *readHeld() {
      // a stream holds nothing from before
    },
    write: (chunk) => writeTo(out, chunk),
    rewind: () => Promise.resolve(false),
    end: () => endOf(out),
    destroy: (why) => {
      out.destroy(new Error(why));
    },
  };
}

function writeTo(out: Writable | WriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed) {
      reject(new Error('the destination is closed'));
      return;
    }
    const onError = (e: Error) => {
      reject(e);
    };
    out.once('error', onError);
    // Resolves once the chunk is handed on; waits for 'drain' when the buffer is full (backpressure).
    const flowing = out.write(chunk, (e) => {
      if (e) reject(e);
    });
    const done = () => {
      out.off('error', onError);
      out.off('close', closed);
      resolve();
    };
    const closed = () => {
      out.off('error', onError);
      out.off('drain', done);
      reject(new Error('the destination closed'));
    };
    if (flowing) done();
    else {
      out.once('drain', done);
      out.once('close', closed);
    }
  });
}

function endOf(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.writableFinished) {
      resolve();
      return;
    }
    out.once('error', reject);
    out.end(() => {
      out.off('error', reject);
      resolve();
    });
  });
}
