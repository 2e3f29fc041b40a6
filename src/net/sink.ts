// Where a download's bytes go. A file can resume after the bytes an earlier run left and start
// again from byte 0; a stream already handed on can do neither, so after a restart the download
// skips the bytes the stream has had.
import { createReadStream, type WriteStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface DownloadSink {
  /** Bytes held from before this download (a partial file): the first request asks for the rest. */
  readonly held: number;
  /** Those bytes, read once to start the digest. */
  readHeld(): AsyncIterable<Buffer>;
  /**
   * Takes the next bytes; resolves once the sink is done with `chunk` (the caller may reuse it).
   * A write may be called before the previous one has resolved: each lands after the one before.
   */
  write(chunk: Buffer): Promise<void>;
  /** Drops every byte written; false when it cannot (a stream has passed them on). Called with no write under way. */
  rewind(): Promise<boolean>;
  /** Flushes and closes (the bytes are all there when it resolves). */
  end(): Promise<void>;
  /** Closes without flushing what is pending (a failed download); a stream's reader sees `why`. */
  destroy(why: string): void;
}

/**
 * A file, continued when it exists (a partial download to resume). Each chunk is written at its own
 * offset straight from the caller's buffer, so several writes can be under way at once on the
 * thread pool while the next bytes arrive.
 */
export async function fileSink(path: string): Promise<DownloadSink> {
  const held = (await stat(path).catch(() => undefined))?.size ?? 0;
  const file = await open(path, held > 0 ? 'r+' : 'w');
  let offset = held;
  return {
    held,
    async *readHeld() {
      if (held === 0) return;
      for await (const chunk of createReadStream(path, { end: held - 1 })) if (Buffer.isBuffer(chunk)) yield chunk;
    },
    write(chunk) {
      const at = offset;
      offset += chunk.length;
      return writeAt(file, chunk, at);
    },
    async rewind() {
      await file.truncate(0);
      offset = 0;
      return true;
    },
    end: () => file.close(),
    destroy: () => {
      file.close().catch(() => undefined);
    },
  };
}

/** All of `chunk` at `at` (a write can take fewer bytes than it was given). */
async function writeAt(file: FileHandle, chunk: Buffer, at: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await file.write(chunk, done, chunk.length - done, at + done);
    done += bytesWritten;
  }
}

/** A stream (a consumer reading as the bytes arrive): it cannot rewind. */
export function streamSink(out: Writable): DownloadSink {
  return {
    held: 0,
    async *readHeld() {
      // a stream holds nothing from before
    },
    // A copy: the stream keeps what it is given, and the caller's buffer may be reused.
    write: (chunk) => writeTo(out, Buffer.from(chunk)),
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
