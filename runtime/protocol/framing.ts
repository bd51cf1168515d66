/**
 * beanstalkd's framing of a client's byte stream: where a command line ends,
 * where a body goes, what is thrown away. The base class of a connection
 * (connection.ts), which decides what lines and bodies mean.
 *
 * beanstalkd reads a command into a 224-byte buffer and looks only at the
 * FIRST '\r' in it: a line is complete when that '\r' is followed by '\n'. A
 * stray '\r' therefore stalls the connection until the buffer is full, and a
 * full buffer without a line end is thrown away and the rest of that line
 * answered with BAD_FORMAT. We apply the same rule to a window of at most 224
 * bytes from the start of each line, which gives the same replies however
 * the bytes were split into packets.
 *
 * Contract: `step` takes what the current state needs from a chunk and
 * returns where it stopped; a subclass calls it until the chunk is used or it
 * must stop (it is blocked). A partial line is kept in at most 224 bytes; a
 * body is copied straight from the chunk to where `readBody` said. The only
 * replies written here are the framing's own: BAD_FORMAT after an over-long
 * line, and the reply owed after a skipped body.
 *
 * It is a base class rather than a part the connection holds so that a
 * connection stays one object with one shape on the hot path (no extra hop
 * per command).
 */
import { copyBytes } from "./bytes.ts";
import { Output } from "./output.ts";
import * as R from "./replies.ts";

/** beanstalkd's LINE_BUF_SIZE: 11 + MAX_TUBE_NAME_LEN (201) + 12. */
export const LINE_MAX = 224;
const CR = 13;
const LF = 10;

const enum In {
  Command,
  /** After an over-long line: discard up to the next line end, then BAD_FORMAT. */
  EndLine,
  Body,
  Skip,
}

export abstract class Framing {
  readonly out = new Output();

  private state = In.Command;
  private line: Uint8Array | null = null;
  private lineLen = 0;
  /** Where the body being read goes: bodyBuf[bodyAt, bodyAt + bodyLen). */
  private bodyBuf: Uint8Array | null = null;
  private bodyAt = 0;
  private bodyLen = 0;
  private bodyRead = 0;
  private skipLeft = 0;
  private skipReply: Uint8Array = R.BAD_FORMAT;

  /** A complete command line: buf[start, eol), where buf[eol] is its '\r'. */
  protected abstract lineDone(buf: Uint8Array, start: number, eol: number): void;

  /** The body asked for with readBody has arrived in full; `buf` is where it went. */
  protected abstract bodyDone(buf: Uint8Array): void;

  /** The next `len` bytes on the wire go to buf[at, at + len). */
  protected readBody(buf: Uint8Array, at: number, len: number): void {
    this.bodyBuf = buf;
    this.bodyAt = at;
    this.bodyLen = len;
    this.bodyRead = 0;
    this.state = In.Body;
  }

  /** Discards the next n bytes, then replies `reply` (JOB_TOO_BIG). */
  skip(n: number, reply: Uint8Array): void {
    this.skipLeft = n;
    this.skipReply = reply;
    this.state = In.Skip;
  }

  /** Forgets a body being read (the connection is closing). */
  protected dropBody(): void {
    this.bodyBuf = null;
  }

  /** Handles what the current state takes from buf at pos; returns where it stopped. */
  protected step(buf: Uint8Array, pos: number): number {
    switch (this.state) {
      case In.Command:
      case In.EndLine:
        return this.lineStep(buf, pos);
      case In.Body: {
        // Straight from the socket's chunk into the job's arena cell.
        const n = Math.min(this.bodyLen - this.bodyRead, buf.length - pos);
        copyBytes(buf, pos, pos + n, this.bodyBuf!, this.bodyAt + this.bodyRead);
        this.bodyRead += n;
        if (this.bodyRead === this.bodyLen) {
          const body = this.bodyBuf!;
          this.bodyBuf = null;
          this.state = In.Command;
          this.bodyDone(body);
        }
        return pos + n;
      }
      case In.Skip: {
        const n = Math.min(this.skipLeft, buf.length - pos);
        this.skipLeft -= n;
        if (this.skipLeft === 0) {
          this.out.bytes(this.skipReply);
          this.state = In.Command;
        }
        return pos + n;
      }
    }
  }

  /** Finds the next line in the 224-byte window from pos and handles it. */
  private lineStep(buf: Uint8Array, pos: number): number {
    const len = buf.length;
    if (this.lineLen > 0) {
      // Continue a partial line: top up the window, as beanstalkd's read does.
      const line = this.line!;
      const old = this.lineLen;
      const take = Math.min(LINE_MAX - old, len - pos);
      copyBytes(buf, pos, pos + take, line, old);
      const total = old + take;
      const eol = lineEnd(line, 0, total);
      if (eol >= 0) {
        this.lineLen = 0;
        this.endOfLine(line, 0, eol);
        return pos + (eol + 2 - old);
      }
      if (total === LINE_MAX) {
        this.lineLen = 0;
        this.state = In.EndLine;
      } else {
        this.lineLen = total;
      }
      return pos + take;
    }
    const window = Math.min(len - pos, LINE_MAX);
    const eol = lineEnd(buf, pos, pos + window);
    if (eol >= 0) {
      this.endOfLine(buf, pos, eol);
      return eol + 2;
    }
    if (window === LINE_MAX) {
      this.state = In.EndLine;
      return pos + LINE_MAX;
    }
    this.line ??= new Uint8Array(LINE_MAX);
    copyBytes(buf, pos, len, this.line, 0);
    this.lineLen = len - pos;
    return len;
  }

  private endOfLine(buf: Uint8Array, start: number, eol: number): void {
    if (this.state === In.EndLine) {
      this.state = In.Command;
      this.out.bytes(R.BAD_FORMAT);
      return;
    }
    this.lineDone(buf, start, eol);
  }
}

/**
 * beanstalkd's scan_line_end over buf[start, stop): the index of the first
 * '\r' if a '\n' follows it inside the window, else -1.
 */
export function lineEnd(buf: Uint8Array, start: number, stop: number): number {
  for (let i = start; i < stop - 1; i++) {
    if (buf[i] === CR) return buf[i + 1] === LF ? i : -1;
  }
  return -1;
}

/** True when a data block read with readBody ends in "\r\n" (its last two bytes). */
export function endsInCrlf(buf: Uint8Array): boolean {
  const n = buf.length;
  return n >= 2 && buf[n - 2] === CR && buf[n - 1] === LF;
}
