/**
 * One client connection: the commands and bodies framing.ts finds in its
 * byte stream are dispatched to the queue, replies are collected for one
 * write per event, and the connection leaves the queue when it closes.
 *
 * Contracts:
 * - Memory per connection is bounded: a partial line is at most 224 bytes,
 *   and while the connection cannot proceed (a blocking reserve, or a peer
 *   that does not read its replies) its socket is paused once a little input
 *   has piled up.
 * - A reply leaves once the log records its own commands wrote are durable,
 *   never waiting for other connections' records (flush).
 * - Every close the server decides releases the connection's reservations,
 *   watches and wait before its FIN (closeAfterReplies), as beanstalkd does.
 */

import type { TransportSocket } from "../adapters/transport.ts";
import { discard, LARGE_HEADROOM, SMALL_MAX } from "../queue/arena.ts";
import type { Conn, ConnEvents } from "../queue/conn.ts";
import { Result } from "../queue/counters.ts";
import { NONE } from "../queue/jobs.ts";
import { Args } from "./args.ts";
import { dispatch } from "./commands/index.ts";
import type { ProtocolContext, Session } from "./context.ts";
import { endsInCrlf, Framing } from "./framing.ts";
import * as R from "./replies.ts";

/** Output above this stops command processing until the peer reads. */
const OUT_HIGH = 1 << 20;
const OUT_LOW = 1 << 16;
/** Held input above this pauses reading from the socket. */
const HELD_HIGH = 1 << 18;
/** Reads at least this long are freed as soon as they are used (onData). */
const FREE_READ_AT = 1 << 16;

export class Connection extends Framing implements ConnEvents, Session {
  readonly conn: Conn;
  /** The argument cursor of the command being dispatched. */
  private readonly args = new Args();
  dirty = false;

  /** The job whose body is being read (NONE when none). */
  private putSlot = NONE;
  /** Set while the body being read is an extension's data block (readData), not a job's. */
  private dataDone: ((data: Uint8Array) => void) | null = null;

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
    super();
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
    this.readBody(store.bodyBuffer(slot), store.bodyOffset(slot), store.size[slot]!);
  }

  readData(n: number, done: (data: Uint8Array) => void): void {
    this.dataDone = done;
    this.readBody(new Uint8Array(n + 2), 0, n + 2);
  }

  block(): void {
    // beanstalkd 1.12/1.13 (prot.c, STATE_WAIT with c->halfclosed): once the
    // peer has half-closed, a reserve that would wait answers TIMED_OUT at
    // once, whether its FIN came before or during the wait (onEnd).
    if (this.peerEnded) return this.ctx.queue.hangUp(this.conn);
    this.blocked = true;
  }

  quit(): void {
    this.closeAfterReplies();
  }

  // ---- input ---------------------------------------------------------------

  /** Processes buf from pos; returns where it stopped (buf.length when all was used). */
  private pump(buf: Uint8Array, pos: number): number {
    const len = buf.length;
    while (pos < len) {
      if (this.blocked || this.closing) return pos;
      pos = this.step(buf, pos);
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

  protected lineDone(buf: Uint8Array, start: number, eol: number): void {
    const journal = this.ctx.queue.journal;
    const before = journal.written;
    dispatch(this, this.args, buf, start, eol);
    if (journal.written !== before) this.needSeq = journal.written;
  }

  protected bodyDone(buf: Uint8Array): void {
    if (this.dataDone) return this.finishData(buf);
    const slot = this.putSlot;
    const queue = this.ctx.queue;
    const id = queue.store.id[slot]!;
    this.putSlot = NONE;
    const before = queue.journal.written;
    const r = queue.commitPut(slot);
    if (queue.journal.written !== before) this.needSeq = queue.journal.written;
    if (r !== Result.Ok) return this.out.bytes(R.replyFor(r, R.INTERNAL_ERROR));
    this.out.ascii("INSERTED ");
    this.out.num(id);
    this.out.crlf();
  }

  private finishData(buf: Uint8Array): void {
    const done = this.dataDone!;
    this.dataDone = null;
    if (!endsInCrlf(buf)) return this.out.bytes(R.EXPECTED_CRLF);
    done(buf.subarray(0, buf.length - 2));
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
    this.closeAfterReplies();
  }

  /**
   * The one way the server closes a connection (quit, an HTTP-looking line,
   * the end of a half-closed peer's input): the connection leaves the queue
   * NOW, and its FIN goes out only after the replies already owed (flush).
   * beanstalkd's connclose() releases everything before it returns to its
   * event loop, so a client that has seen the FIN and asks on another
   * connection must find the reservations, watches and wait gone. Releasing
   * later, in the transport's close callback after the FIN, would let another
   * connection's command still see them.
   * When the peer closes first, the transport's close callback (onClose)
   * releases in the same step in which the descriptor is closed.
   */
  private closeAfterReplies(): void {
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
      this.dropBody();
    }
    this.held = [];
    this.heldBytes = 0;
    this.ctx.queue.disconnect(this.conn);
  }
}
