/**
 * One client connection: turns the incoming byte stream into commands and
 * job bodies, and collects replies for one write per event.
 *
 * Framing follows beanstalkd's, which reads a command into a 224-byte buffer
 * and looks only at the FIRST '\r' in it: a line is complete when that '\r'
 * is followed by '\n'. A stray '\r' therefore stalls the connection until the
 * buffer is full, and a full buffer without a line end is thrown away and the
 * rest of that line answered with BAD_FORMAT. We apply the same rule to a
 * window of at most 224 bytes from the start of each line, which gives the
 * same replies however the bytes were split into packets.
 *
 * Memory per connection is bounded: a partial line is at most 224 bytes, and
 * while the connection cannot proceed (a blocking reserve, or a peer that
 * does not read its replies) its socket is paused once a little input has
 * piled up.
 */

import type { TransportSocket } from "../adapters/transport.ts";
import { discard, LARGE_HEADROOM, SMALL_MAX } from "../queue/arena.ts";
import type { Conn, ConnEvents } from "../queue/conn.ts";
import { Result } from "../queue/counters.ts";
import { NONE } from "../queue/jobs.ts";
import { Args } from "./args.ts";
import { copyBytes } from "./bytes.ts";
import { dispatch } from "./commands/index.ts";
import type { ProtocolContext, Session } from "./context.ts";
import { Output } from "./output.ts";
import * as R from "./replies.ts";

/** beanstalkd's LINE_BUF_SIZE: 11 + MAX_TUBE_NAME_LEN (201) + 12. */
export const LINE_MAX = 224;
const CR = 13;
const LF = 10;
/** Output above this stops command processing until the peer reads. */
const OUT_HIGH = 1 << 20;
const OUT_LOW = 1 << 16;
/** Held input above this pauses reading from the socket. */
const HELD_HIGH = 1 << 18;
/** Reads at least this long are freed as soon as they are used (onData). */
const FREE_READ_AT = 1 << 16;

const enum In {
  Command,
  /** After an over-long line: discard up to the next line end, then BAD_FORMAT. */
  EndLine,
  Body,
  Skip,
}

export class Connection implements ConnEvents, Session {
  readonly out = new Output();
  readonly conn: Conn;
  /** The argument cursor of the command being dispatched. */
  private readonly args = new Args();
  dirty = false;

  private state = In.Command;
  private line: Uint8Array | null = null;
  private lineLen = 0;
  private putSlot = NONE;
  /** Where the body being read goes: putBuf[putAt, putAt + putLen). */
  private putBuf: Uint8Array | null = null;
  private putAt = 0;
  private putLen = 0;
  private putRead = 0;
  /** Set while the body being read is an extension's data block (readData), not a job's. */
  private dataDone: ((data: Uint8Array) => void) | null = null;
  private skipLeft = 0;
  private skipReply: Uint8Array = R.BAD_FORMAT;

  /** Input received while the connection could not proceed, oldest first. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private readPaused = false;
  /** Waiting in a reserve. */
  private blocked = false;
  /** The peer is not reading its replies. */
  private outBlocked = false;
  private peerEnded = false;
  private closing = false;
  private closed = false;
  private awaitingDurable = false;
  /**
   * The last log record this connection's own commands wrote: its replies
   * leave once that record is durable. Replies that acknowledge nothing of
   * its own (a job arriving in a reserve, a timeout, a peek) never wait for
   * other connections' records, so durability waits do not delay timers or reads.
   */
  private needSeq = 0;

  constructor(
    readonly ctx: ProtocolContext,
    private readonly sock: TransportSocket,
  ) {
    this.conn = ctx.queue.connect(this);
  }

  // ---- transport events ----------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.closing || this.closed) return;
    if (this.held.length || this.blocked || this.outBlocked) return this.hold(chunk, 0);
    const p = this.pump(chunk, 0);
    if (p < chunk.length) this.hold(chunk, p);
    else if (chunk.length >= FREE_READ_AT && chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length) {
      // All used, and nothing refers to it (bodies were copied into the arena, a
      // partial line into `line`): a large read's buffer is freed now, not at a
      // garbage collection an idle server may not run for a long time. (Held
      // input is a view of its chunk, Buffer.slice being subarray: never freed here.)
      discard(chunk);
    }
    this.touchOut();
  }

  onDrain(): void {
    this.flush();
  }

  /** The peer half-closed: finish what it sent, then close. */
  onEnd(): void {
    this.peerEnded = true;
    // beanstalkd answers a waiting reserve with TIMED_OUT when the peer hangs up.
    if (this.blocked) this.ctx.queue.hangUp(this.conn);
    this.maybeFinish();
  }

  onClose(): void {
    this.closed = true;
    this.out.dropSegment();
    this.teardown();
  }

  // ---- queue events (ConnEvents) -------------------------------------------

  reserved(slot: number): void {
    this.sendJob(R.RESERVED, slot);
    this.unblock();
  }

  timedOut(): void {
    this.out.bytes(R.TIMED_OUT);
    this.unblock();
  }

  deadlineSoon(): void {
    this.out.bytes(R.DEADLINE_SOON);
    this.unblock();
  }

  // ---- used by dispatch ----------------------------------------------------

  /** Appends `<prefix><id> <bytes>\r\n<body>\r\n`. */
  sendJob(prefix: string, slot: number): void {
    const store = this.ctx.queue.store;
    const out = this.out;
    const size = store.size[slot]!;
    const buf = store.bodyBuffer(slot);
    const at = store.bodyOffset(slot);
    // A large body (in a buffer of its own, with room before it) leaves
    // straight from its buffer when it is all this connection has to send.
    if (size <= SMALL_MAX || !out.borrowJob(prefix, store.id[slot]!, buf, at, size, LARGE_HEADROOM - 1, at - LARGE_HEADROOM)) {
      out.ascii(prefix);
      out.num(store.id[slot]!);
      out.ascii(" ");
      out.num(size - 2);
      out.crlf();
      out.copy(buf, at, at + size);
    }
    this.touchOut();
  }

  /** Appends `OK <bytes>\r\n<yaml>\r\n`. */
  sendYaml(yaml: string): void {
    this.out.ascii("OK ");
    this.out.num(yaml.length);
    this.out.crlf();
    this.out.ascii(yaml);
    this.out.crlf();
  }

  beginBody(slot: number): void {
    const store = this.ctx.queue.store;
    this.putSlot = slot;
    this.putBuf = store.bodyBuffer(slot);
    this.putAt = store.bodyOffset(slot);
    this.putLen = store.size[slot]!;
    this.putRead = 0;
    this.state = In.Body;
  }

  readData(n: number, done: (data: Uint8Array) => void): void {
    this.putBuf = new Uint8Array(n + 2);
    this.putAt = 0;
    this.putLen = n + 2;
    this.putRead = 0;
    this.dataDone = done;
    this.state = In.Body;
  }

  /** Discards the next n bytes, then replies `reply` (JOB_TOO_BIG). */
  skip(n: number, reply: Uint8Array): void {
    this.skipLeft = n;
    this.skipReply = reply;
    this.state = In.Skip;
  }

  block(): void {
    // beanstalkd 1.12/1.13 (prot.c, STATE_WAIT with c->halfclosed): once the
    // peer has half-closed, a reserve that would wait answers TIMED_OUT at
    // once, whether its FIN came before or during the wait (onEnd).
    if (this.peerEnded) return this.ctx.queue.hangUp(this.conn);
    this.blocked = true;
  }

  quit(): void {
    this.closing = true;
    this.teardown();
    this.touchOut();
  }

  // ---- input ---------------------------------------------------------------

  /** Processes buf from pos; returns where it stopped (buf.length when all was used). */
  private pump(buf: Uint8Array, pos: number): number {
    const len = buf.length;
    while (pos < len) {
      if (this.blocked || this.closing) return pos;
      switch (this.state) {
        case In.Command:
        case In.EndLine:
          pos = this.lineStep(buf, pos);
          break;
        case In.Body: {
          // Straight from the socket's chunk into the job's arena cell.
          const n = Math.min(this.putLen - this.putRead, len - pos);
          copyBytes(buf, pos, pos + n, this.putBuf!, this.putAt + this.putRead);
          this.putRead += n;
          pos += n;
          if (this.putRead === this.putLen) this.finishPut();
          break;
        }
        case In.Skip: {
          const n = Math.min(this.skipLeft, len - pos);
          this.skipLeft -= n;
          pos += n;
          if (this.skipLeft === 0) {
            this.out.bytes(this.skipReply);
            this.state = In.Command;
          }
          break;
        }
      }
      if (this.out.pending > OUT_HIGH) {
        this.flush();
        if (this.out.pending > OUT_HIGH) {
          this.outBlocked = true;
          return pos;
        }
      }
    }
    return pos;
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
        this.lineDone(line, 0, eol);
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
      this.lineDone(buf, pos, eol);
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

  private lineDone(buf: Uint8Array, start: number, eol: number): void {
    if (this.state === In.EndLine) {
      this.state = In.Command;
      this.out.bytes(R.BAD_FORMAT);
      return;
    }
    const journal = this.ctx.queue.journal;
    const before = journal.written;
    dispatch(this, this.args, buf, start, eol);
    if (journal.written !== before) this.needSeq = journal.written;
  }

  private finishPut(): void {
    if (this.dataDone) return this.finishData();
    const slot = this.putSlot;
    const queue = this.ctx.queue;
    const id = queue.store.id[slot]!;
    this.putSlot = NONE;
    this.putBuf = null;
    this.state = In.Command;
    const before = queue.journal.written;
    const r = queue.commitPut(slot);
    if (queue.journal.written !== before) this.needSeq = queue.journal.written;
    if (r !== Result.Ok) return this.out.bytes(R.replyFor(r, R.INTERNAL_ERROR));
    this.out.ascii("INSERTED ");
    this.out.num(id);
    this.out.crlf();
  }

  private finishData(): void {
    const buf = this.putBuf!;
    const done = this.dataDone!;
    this.dataDone = null;
    this.putBuf = null;
    this.state = In.Command;
    const n = buf.length - 2;
    if (buf[n] !== CR || buf[n + 1] !== LF) return this.out.bytes(R.EXPECTED_CRLF);
    done(buf.subarray(0, n));
  }

  private hold(buf: Uint8Array, pos: number): void {
    const copy = buf.slice(pos);
    this.held.push(copy);
    this.heldBytes += copy.length;
    if (!this.readPaused && this.heldBytes > HELD_HIGH) {
      this.readPaused = true;
      this.sock.pause();
    }
  }

  /** Continues with held input once the connection can proceed again. */
  resume(): void {
    while (this.held.length && !this.blocked && !this.outBlocked && !this.closing) {
      const buf = this.held.shift()!;
      this.heldBytes -= buf.length;
      const p = this.pump(buf, 0);
      if (p < buf.length) {
        const rest = buf.subarray(p);
        this.held.unshift(rest);
        this.heldBytes += rest.length;
      }
    }
    this.touchOut();
    if (this.readPaused && this.heldBytes < HELD_HIGH / 4) {
      this.readPaused = false;
      this.sock.resume();
    }
    this.maybeFinish();
  }

  private unblock(): void {
    this.touchOut();
    if (!this.blocked) return;
    this.blocked = false;
    this.ctx.markRunnable(this);
  }

  private maybeFinish(): void {
    if (!this.peerEnded || this.closing || this.blocked || this.held.length) return;
    // beanstalkd closes when a read returns EOF; an unfinished body is dropped.
    this.closing = true;
    this.teardown();
    this.touchOut();
  }

  // ---- output --------------------------------------------------------------

  private touchOut(): void {
    if (!this.dirty) {
      this.dirty = true;
      this.ctx.markDirty(this);
    }
  }

  /** Writes pending replies, once the records they acknowledge are durable. */
  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    const out = this.out;
    if (out.pending > 0) {
      const journal = this.ctx.queue.journal;
      const need = this.needSeq;
      if (journal.durable < need) {
        out.materialize();
        if (!this.awaitingDurable) {
          this.awaitingDurable = true;
          journal.whenDurable(need, () => {
            this.awaitingDurable = false;
            this.flush();
          });
        }
        return;
      }
      if (out.seg !== null) out.consumeSegment(this.sock.write(out.seg, out.segStart, out.segEnd));
      else out.consume(this.sock.write(out.buf, out.head, out.len));
    }
    if (out.pending === 0 && this.closing) {
      this.closed = true;
      this.sock.end();
      return;
    }
    if (this.outBlocked && out.pending < OUT_LOW) {
      this.outBlocked = false;
      this.ctx.markRunnable(this);
    }
  }

  /** Leaves the queue: an unfinished put is dropped, reserved jobs return to ready. */
  private teardown(): void {
    if (this.conn.closed) return;
    if (this.putSlot !== NONE) {
      this.ctx.queue.discard(this.putSlot);
      this.putSlot = NONE;
      this.putBuf = null;
    }
    this.held = [];
    this.heldBytes = 0;
    this.ctx.queue.disconnect(this.conn);
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
