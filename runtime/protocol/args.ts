/**
 * The arguments of one command line, read left to right. Each connection owns
 * one cursor and points it at the line being dispatched (`reset`), so no
 * parsing state lives at module level and two connections never share it.
 *
 * The readers apply beanstalkd's acceptance rules, which differ per command:
 * read_u32/read_u64 (skip spaces, digits; `toEnd` = nothing may follow) for
 * most, strtoul for kick, strtol for 1.12's reserve-with-timeout (those two
 * are in numbers.ts). A reader returns -1 on failure and leaves `pos`
 * unchanged; on success `pos` is just past what it read.
 */

import { isValidTubeName, nameSpan } from "../queue/tube.ts";
import { readKickCount, readTimeout112, U64_MAX } from "./numbers.ts";

const SPACE = 0x20;

export class Args {
  buf: Uint8Array = new Uint8Array(0);
  /** Next unread byte. */
  pos = 0;
  /** The line's end (its "\r"). */
  end = 0;

  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /** Nothing follows the command word (commands without arguments). */
  get empty(): boolean {
    return this.pos === this.end;
  }

  /** read_u32: a number up to 2^32-1, or -1. */
  u32(toEnd = false): number {
    return this.unsigned(toEnd, true);
  }

  /** read_u64: ids above 2^53 come back as Infinity (no job can have them), or -1. */
  u64(toEnd = false): number {
    return this.unsigned(toEnd, false);
  }

  /** kick's count (strtoul truncated to unsigned int), or -1. */
  kickCount(): number {
    return readKickCount(this.buf, this.pos, this.end);
  }

  /** 1.12's reserve-with-timeout argument (strtol truncated to int), or null for BAD_FORMAT. */
  timeout112(): number | null {
    return readTimeout112(this.buf, this.pos, this.end);
  }

  /** The rest of the line as a tube name, or null if it is not a valid one. */
  tubeName(): string | null {
    if (!isValidTubeName(this.buf, this.pos, this.end)) return null;
    const s = this.latin1(this.pos, this.end);
    this.pos = this.end;
    return s;
  }

  /** Skips spaces, then returns the length of the run of tube-name characters (not consumed). */
  nameAhead(): number {
    while (this.pos < this.end && this.buf[this.pos] === SPACE) this.pos++;
    return nameSpan(this.buf, this.pos, this.end);
  }

  latin1(start: number, stop: number): string {
    let s = "";
    for (let i = start; i < stop; i++) s += String.fromCharCode(this.buf[i]!);
    return s;
  }

  private unsigned(toEnd: boolean, max32: boolean): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    while (pos < end && buf[pos] === SPACE) pos++;
    if (pos >= end || !isDigit(buf[pos]!)) return -1;
    const start = pos;
    let v = 0;
    while (pos < end && isDigit(buf[pos]!)) {
      v = v * 10 + (buf[pos]! - 0x30);
      pos++;
    }
    if (toEnd && pos !== end) return -1;
    if (v > Number.MAX_SAFE_INTEGER) {
      // Only here can the value exceed uint64 (strtoumax's ERANGE).
      let z = start;
      while (z < pos - 1 && buf[z] === 0x30) z++;
      const d = this.latin1(z, pos);
      if (max32 || d.length > 20 || (d.length === 20 && d > U64_MAX)) return -1;
      v = Infinity;
    } else if (max32 && v > 0xffffffff) {
      return -1;
    }
    this.pos = pos;
    return v;
  }
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}
