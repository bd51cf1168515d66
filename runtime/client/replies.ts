/**
 * Incremental parser for beanstalkd replies: a text line ending in "\r\n",
 * followed, for RESERVED/FOUND/OK, by `<bytes>` of data and "\r\n".
 *
 * Socket chunks are parsed in place when nothing is left over from the
 * previous chunk; only an unfinished reply's bytes are kept, in one growable
 * buffer read from an offset (compacted or doubled when full), so the cost is
 * linear in the bytes received however replies are split across packets.
 * A reply waiting for a large body is not rescanned until enough bytes came.
 */

export interface Reply {
  /** The first word of the line, e.g. "INSERTED". */
  word: string;
  /** The rest of the line, split on spaces. */
  args: string[];
  /** The data chunk of RESERVED/FOUND/OK replies (a copy you own), else null. */
  body: Uint8Array | null;
}

export class ReplyParseError extends Error {
  override name = "ReplyParseError";
}

/** Reply words followed by a data chunk, with the index of `<bytes>` among the args. */
const BODY_ARG: Readonly<Record<string, number>> = { RESERVED: 1, FOUND: 1, OK: 0 };

/** Longest reply line accepted (beanstalkd's are under 256 bytes; tube names are at most 200). */
const MAX_LINE = 1024;
const CR = 13;
const LF = 10;

const utf8 = new TextDecoder();

function lineText(b: Uint8Array, from: number, to: number): string {
  // Reply lines are ASCII: build the string directly, falling back to UTF-8 for anything else.
  let s = "";
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c >= 0x80) return utf8.decode(b.subarray(from, to));
    s += String.fromCharCode(c);
  }
  return s;
}

export class ReplyParser {
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  /** A parsed line still waiting for its data chunk. */
  private head: Reply | null = null;
  /** Bytes the waiting reply needs in total from `start` (data + CRLF). */
  private need = 0;

  constructor(private readonly emit: (reply: Reply) => void) {}

  /** Bytes held for an unfinished reply. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Feeds one chunk; calls `emit` for each complete reply. Throws ReplyParseError on malformed input. */
  push(chunk: Uint8Array): void {
    if (this.start === this.end) {
      // Nothing held over: parse straight from the chunk, keep only its tail.
      this.start = this.end = 0;
      if (this.head !== null && chunk.length < this.need) {
        this.append(chunk);
        return;
      }
      const used = this.parse(chunk, 0, chunk.length);
      if (used < chunk.length) this.append(chunk.subarray(used));
      return;
    }
    this.append(chunk);
    if (this.head !== null && this.end - this.start < this.need) return;
    if (this.head === null && chunk.indexOf(LF) < 0 && this.end - this.start <= MAX_LINE) return;
    this.start = this.parse(this.buf, this.start, this.end);
    if (this.start === this.end) this.start = this.end = 0;
  }

  private append(bytes: Uint8Array): void {
    const live = this.end - this.start;
    if (this.end + bytes.length > this.buf.length) {
      if (live + bytes.length <= this.buf.length >> 1) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const want = Math.max(this.buf.length * 2, live + bytes.length, 4096, this.need);
        const next = new Uint8Array(want);
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** Parses complete replies in b[pos, lim); returns the offset of the first unconsumed byte. */
  private parse(b: Uint8Array, pos: number, lim: number): number {
    for (;;) {
      let reply = this.head;
      if (reply === null) {
        const lf = b.indexOf(LF, pos);
        if (lf < 0 || lf >= lim) {
          if (lim - pos > MAX_LINE) throw new ReplyParseError(`reply line longer than ${MAX_LINE} bytes`);
          return pos;
        }
        if (lf - pos > MAX_LINE) throw new ReplyParseError(`reply line longer than ${MAX_LINE} bytes`);
        if (lf === pos || b[lf - 1] !== CR)
          throw new ReplyParseError(`reply line not ended by CRLF: ${JSON.stringify(lineText(b, pos, lf))}`);
        const line = lineText(b, pos, lf - 1);
        const sp = line.indexOf(" ");
        const word = sp < 0 ? line : line.slice(0, sp);
        const args = sp < 0 ? [] : line.slice(sp + 1).split(" ");
        reply = { word, args, body: null };
        const at = BODY_ARG[word];
        if (at === undefined) {
          pos = lf + 1;
          this.emit(reply);
          continue;
        }
        const sizeText = args[at];
        const size = sizeText === undefined || !/^\d{1,10}$/.test(sizeText) ? NaN : Number(sizeText);
        if (!(size >= 0)) throw new ReplyParseError(`bad data size in ${JSON.stringify(line)}`);
        pos = lf + 1;
        this.head = reply;
        this.need = size + 2;
      }
      if (lim - pos < this.need) return pos;
      const size = this.need - 2;
      if (b[pos + size] !== CR || b[pos + size + 1] !== LF) throw new ReplyParseError(`data chunk of ${reply.word} not followed by CRLF`);
      // A copy in a plain Uint8Array (a socket chunk may be a Buffer, whose slice() is a view).
      const body = new Uint8Array(size);
      body.set(b.subarray(pos, pos + size));
      reply.body = body;
      pos += this.need;
      this.head = null;
      this.need = 0;
      this.emit(reply);
    }
  }
}
