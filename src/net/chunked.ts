// A chunked body (RFC 9112 §7.1) decoded as its bytes arrive, in pieces cut anywhere: the data of
// each chunk is passed on as views of the input, never copied; sizes, extensions and trailers are
// read and dropped.

type State = 'size' | 'extension' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer' | 'trailer-lf' | 'end-lf' | 'done';

const CR = 0x0d;
const LF = 0x0a;
/** Hex digits in a chunk size: 12 is 256 TiB, more is not a size. */
const MAX_SIZE_DIGITS = 12;

export class ChunkedBody {
  private state: State = 'size';
  private size = 0;
  private digits = 0;
  private left = 0;

  /** Passes on the data in `input`; 'done' once the last chunk and the trailers have been read. */
  feed(input: Buffer, data: (chunk: Buffer) => void): 'more' | 'done' | 'malformed' {
    let i = 0;
    while (i < input.length) {
      if (this.state === 'data') {
        const n = Math.min(this.left, input.length - i);
        data(input.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-cr';
        continue;
      }
      const next = this.step(input[i] ?? 0);
      if (next === 'malformed') return next;
      this.state = next;
      i++;
      if (next === 'done') return 'done';
    }
    return this.state === 'done' ? 'done' : 'more';
  }

  /** The state after one byte outside chunk data. */
  private step(byte: number): State | 'malformed' {
    switch (this.state) {
      case 'size':
        return this.sizeDigit(byte);
      case 'extension':
        return byte === CR ? 'size-lf' : 'extension';
      case 'size-lf':
        return byte === LF ? this.chunkStart() : 'malformed';
      case 'data-cr':
        return byte === CR ? 'data-lf' : 'malformed';
      case 'data-lf':
        return byte === LF ? 'size' : 'malformed';
      case 'trailer-start':
        return byte === CR ? 'end-lf' : 'trailer';
      case 'trailer':
        return byte === CR ? 'trailer-lf' : 'trailer';
      case 'trailer-lf':
        return byte === LF ? 'trailer-start' : 'malformed';
      case 'end-lf':
        return byte === LF ? 'done' : 'malformed';
      case 'data':
      case 'done':
        return 'malformed';
    }
  }

  private sizeDigit(byte: number): State | 'malformed' {
    const digit = hexValue(byte);
    if (digit !== undefined) {
      if (++this.digits > MAX_SIZE_DIGITS) return 'malformed';
      this.size = this.size * 16 + digit;
      return 'size';
    }
    if (this.digits === 0) return 'malformed';
    if (byte === CR) return 'size-lf';
    return byte === 0x3b || byte === 0x20 || byte === 0x09 ? 'extension' : 'malformed'; // ';', or spaces before it
  }

  private chunkStart(): State {
    const size = this.size;
    this.size = 0;
    this.digits = 0;
    if (size === 0) return 'trailer-start';
    this.left = size;
    return 'data';
  }
}

function hexValue(byte: number): number | undefined {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return undefined;
}
