/**
 * One client connection of a PostgreSQL-backed front end: framing, replies in
 * order, and reserves that wait.
 *
 * Framing is the protocol's: a line ends at the first '\r' of its 224-byte window if a '\n' follows
 * (runtime/protocol/framing.ts's lineEnd and LINE_MAX), an over-long line is discarded and answered BAD_FORMAT,
 * a body is size + 2 bytes that must end in "\r\n". Commands are pipelined: each is handed to the group commit as
 * it is parsed, and its reply takes its place in an ordered queue, so replies leave in command order however
 * batches complete. Parsing stops at a reserve until it is answered (its outcome decides what the connection's
 * next commands mean, as in beanstalkd) and while too many replies are outstanding.
 *
 * A waiting reserve is retried when its tubes are woken (NOTIFY from any front end, or a local commit), when its
 * DEADLINE_SOON or timeout timer fires it is answered, and a slow recheck covers notifications lost during a reconnect.
 */
import type { SocketEvents, TransportSocket } from "../../adapters/transport.ts";
import { LINE_MAX, lineEnd } from "../../protocol/framing.ts";
import * as R from "../../protocol/replies.ts";
import { dispatch } from "./commands.ts";
import type { FrontContext } from "./context.ts";
import { jobReply, lineReply } from "./reply-bytes.ts";
import * as S from "./statements.ts";

const MAX_OUTSTANDING = 1024;
const HELD_HIGH = 1 << 20;
/** A waiting reserve re-checks this often even without a notification. */
const WAIT_RECHECK_MS = 5000;
/** beanstalkd's safety margin before a reservation's deadline. */
const SAFETY_MS = 1000;

const enum In {
  Command,
  EndLine,
  Body,
  Skip,
}

interface Wait {
  timeoutMs: number;
  attempting: boolean;
  /** Bumped by every wake: an attempt that started before a wake retries. */
  gen: number;
  expired: Uint8Array | null;
  timers: ReturnType<typeof setTimeout>[];
  /** Index of the reserve's place in the reply queue. */
  slot: number;
  /** An attempt found nothing and it waits: only now in current-waiting (a beanstalkd reserve that did not return at once). */
  waited: boolean;
}

export class Session implements SocketEvents {
  readonly owner: S.Owner;
  use = "default";
  watch: string[] = ["default"];
  producer = false;
  worker = false;
  wait: Wait | null = null;
  /** Jobs this connection reserved: id -> local deadline (ms, this process's clock). */
  readonly reserved = new Map<number, number>();

  private buf = new Uint8Array(4096);
  private head = 0;
  private tail = 0;
  private state = In.Command;
  private body: { pri: number; delay: number; ttr: number; size: number } | null = null;
  private skipLeft = 0;
  private replies: (Uint8Array | null)[] = [];
  private replyHead = 0;
  private pendingOut: Uint8Array | null = null;
  private readPaused = false;
  private busy = false;
  private closing = false;
  /** The peer half-closed: finish what it sent (reserves no longer wait), then close. */
  private peerEnded = false;
  private closed = false;
  private everReserved = false;

  constructor(
    readonly ctx: FrontContext,
    private readonly sock: TransportSocket,
  ) {
    const front = ctx.front;
    this.owner = {
      get front() {
        return front.id;
      },
      conn: ++ctx.totalConns,
    };
    ctx.sessions.add(this);
    ctx.tubeRef(this.use, "using", 1);
    ctx.tubeRef("default", "watching", 1);
  }

  // ---- transport -----------------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.closing || this.closed) return;
    if (this.head === this.tail) this.head = this.tail = 0;
    if (this.tail + chunk.length > this.buf.length) {
      const live = this.tail - this.head;
      const next = live + chunk.length > this.buf.length ? new Uint8Array(Math.max(this.buf.length * 2, live + chunk.length)) : this.buf;
      next.set(this.buf.subarray(this.head, this.tail), 0);
      this.buf = next;
      this.head = 0;
      this.tail = live;
    }
    this.buf.set(chunk, this.tail);
    this.tail += chunk.length;
    this.pump();
  }

  onDrain(): void {
    this.writeOut();
  }

  onEnd(): void {
    this.peerEnded = true;
    // beanstalkd answers a waiting reserve with TIMED_OUT when the peer hangs up.
    if (this.wait && !this.wait.attempting) this.finishWait(R.TIMED_OUT);
    else if (this.wait) this.wait.expired = R.TIMED_OUT;
    this.pump();
  }

  onClose(): void {
    this.closed = true;
    void this.teardown();
  }

  // ---- replies -------------------------------------------------------------

  reply(bytes: Uint8Array): void {
    this.replies.push(bytes);
    this.writeOut();
  }

  /** Reserves a place for a reply that a database step will produce. */
  later(p: Promise<Uint8Array>): void {
    const at = this.replies.length;
    this.replies.push(null);
    p.then(
      (bytes) => this.fill(at, bytes),
      (e) => {
        this.ctx.logError(e);
        this.fill(at, R.INTERNAL_ERROR);
      },
    );
  }

  private fill(at: number, bytes: Uint8Array): void {
    this.replies[at] = bytes;
    this.writeOut();
    this.pump();
  }

  private writeOut(): void {
    if (this.closed) return;
    for (;;) {
      if (this.pendingOut) {
        const n = this.sock.write(this.pendingOut, 0, this.pendingOut.length);
        if (n < this.pendingOut.length) {
          this.pendingOut = this.pendingOut.subarray(n);
          return;
        }
        this.pendingOut = null;
      }
      if (this.replyHead >= this.replies.length || this.replies[this.replyHead] === null) break;
      this.pendingOut = this.replies[this.replyHead++]!;
    }
    if (this.replyHead === this.replies.length) {
      this.replies = [];
      this.replyHead = 0;
    }
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.closed || this.pendingOut || this.replyHead < this.replies.length || this.wait) return;
    // After a half-close: once every complete command was handled (an unfinished one is dropped, as beanstalkd does).
    if (!this.closing && !(this.peerEnded && !this.busy && !this.canStep())) return;
    this.closed = true;
    // As beanstalkd (and runtime/protocol/connection.ts): the connection is
    // released before its FIN, so a client that has seen the close finds its
    // reservations back in the database from any connection.
    const released = this.teardown();
    if (released) void released.then(() => this.sock.end());
    else this.sock.end();
  }

  // ---- input ---------------------------------------------------------------

  private pump(): void {
    while (!this.busy && !this.closing && this.head < this.tail && this.replies.length - this.replyHead < MAX_OUTSTANDING) {
      if (!this.step()) break;
    }
    this.maybeEnd();
    const held = this.tail - this.head;
    if (!this.readPaused && held > HELD_HIGH) {
      this.readPaused = true;
      this.sock.pause();
    } else if (this.readPaused && held < HELD_HIGH / 4) {
      this.readPaused = false;
      this.sock.resume();
    }
  }

  /** Whether the buffered input holds a complete unit (line, body, or bytes to skip). */
  private canStep(): boolean {
    const avail = this.tail - this.head;
    if (avail === 0) return false;
    if (this.state === In.Body) return avail >= this.body!.size + 2;
    if (this.state === In.Skip) return true;
    return avail >= LINE_MAX || lineEnd(this.buf, this.head, this.head + Math.min(avail, LINE_MAX)) >= 0;
  }

  /** Handles one unit of input; false when more bytes are needed. */
  private step(): boolean {
    const buf = this.buf;
    const avail = this.tail - this.head;
    switch (this.state) {
      case In.Command:
      case In.EndLine: {
        const window = Math.min(avail, LINE_MAX);
        const eol = lineEnd(buf, this.head, this.head + window);
        if (eol >= 0) {
          const start = this.head;
          this.head = eol + 2;
          if (this.state === In.EndLine) {
            this.state = In.Command;
            this.reply(R.BAD_FORMAT);
          } else {
            dispatch(this, buf, start, eol);
          }
          return true;
        }
        if (window === LINE_MAX) {
          this.state = In.EndLine;
          this.head += LINE_MAX;
          return true;
        }
        return false;
      }
      case In.Body: {
        const b = this.body!;
        if (avail < b.size + 2) return false;
        const at = this.head;
        this.head += b.size + 2;
        this.state = In.Command;
        this.body = null;
        if (buf[at + b.size] !== 13 || buf[at + b.size + 1] !== 10) {
          // beanstalkd gave the job its id before reading the body: that id is used up.
          this.later(this.ctx.front.run(S.burnId(), this, false).then(() => R.EXPECTED_CRLF));
          return true;
        }
        if (this.ctx.draining) return (this.reply(R.DRAINING), true);
        const data = buf.slice(at, at + b.size);
        this.later(this.ctx.front.run(S.put(this.use, b.pri, b.delay, b.ttr, data), this).then((id) => lineReply(`INSERTED ${id}`)));
        if (b.delay > 0) this.ctx.front.dueIn(b.delay * 1000);
        return true;
      }
      case In.Skip: {
        const n = Math.min(this.skipLeft, avail);
        this.skipLeft -= n;
        this.head += n;
        if (this.skipLeft > 0) return false;
        this.state = In.Command;
        this.reply(R.JOB_TOO_BIG);
        return true;
      }
    }
  }

  /** Called by dispatch for put: the body comes next. */
  beginBody(pri: number, delay: number, ttr: number, size: number): void {
    this.body = { pri, delay, ttr, size };
    this.state = In.Body;
  }

  skip(n: number): void {
    this.skipLeft = n;
    this.state = In.Skip;
  }

  quit(): void {
    this.closing = true;
    this.maybeEnd();
  }

  // ---- reserve -------------------------------------------------------------

  /** True when a job this connection holds is within a second of its deadline. */
  deadlineSoon(): boolean {
    const now = Date.now();
    for (const [id, at] of this.reserved) {
      if (at <= now) this.reserved.delete(id);
      else if (at - now <= SAFETY_MS) return true;
    }
    return false;
  }

  /** reserve (timeoutMs -1: forever) and reserve-with-timeout. */
  reserve(timeoutMs: number): void {
    this.worker = true;
    this.busy = true;
    const w: Wait = { timeoutMs, attempting: false, gen: 0, expired: null, timers: [], slot: this.replies.length, waited: false };
    // As beanstalkd: DEADLINE_SOON only when no job can be reserved right now.
    if (this.deadlineSoon()) w.expired = R.DEADLINE_SOON;
    // After a half-close nothing can be waited for: answer at once.
    else if (this.peerEnded) w.timeoutMs = 0;
    this.replies.push(null);
    this.wait = w;
    if (timeoutMs > 0) w.timers.push(setTimeout(() => this.expire(R.TIMED_OUT), timeoutMs));
    let soonest = Infinity;
    for (const at of this.reserved.values()) soonest = Math.min(soonest, at);
    if (soonest < Infinity) w.timers.push(setTimeout(() => this.expire(R.DEADLINE_SOON), Math.max(0, soonest - SAFETY_MS - Date.now())));
    w.timers.push(setInterval(() => this.poke(), WAIT_RECHECK_MS));
    this.attempt();
  }

  /** Waiting, with no attempt in flight (a poke would start one). */
  idle(): boolean {
    return this.wait !== null && !this.wait.attempting;
  }

  /** A wake for one of our tubes: try again (now, or after the attempt in flight). */
  poke(): boolean {
    const w = this.wait;
    if (!w) return false;
    w.gen++;
    if (w.attempting) return false;
    this.attempt();
    return true;
  }

  private expire(reply: Uint8Array): void {
    const w = this.wait;
    if (!w) return;
    if (w.attempting) w.expired = reply;
    else this.finishWait(reply);
  }

  private attempt(): void {
    const w = this.wait!;
    const gen = w.gen;
    w.attempting = true;
    this.everReserved = true;
    this.ctx.front.run(S.reserve(this.owner, this.watch), this, false).then(
      (job) => {
        w.attempting = false;
        if (job) {
          this.reserved.set(job.id, Date.now() + job.ttr * 1000);
          this.ctx.front.dueIn(job.ttr * 1000);
          this.finishWait(jobReply(R.RESERVED, job.id, job.body));
          // More jobs are ready: the next waiter on these tubes, here or (if one waits) on another front end, should try.
          if (job.more) this.ctx.front.wakeups.announce(new Map(this.watch.map((t) => [t, 1])), undefined, job.hungry);
        } else if (w.expired) this.finishWait(w.expired);
        else if (w.timeoutMs === 0) this.finishWait(R.TIMED_OUT);
        else if (w.gen !== gen) this.attempt();
        else {
          w.waited = true;
          // Waiting: once other front ends know to notify us, look once more (a job may have come in before that).
          this.ctx.front.wakeups.waitingOn(this.watch)?.then(() => {
            if (this.wait === w && !w.attempting) this.attempt();
          });
        }
      },
      (e) => {
        w.attempting = false;
        this.ctx.logError(e);
        this.finishWait(R.INTERNAL_ERROR);
      },
    );
  }

  private finishWait(reply: Uint8Array): void {
    const w = this.wait;
    if (!w) return;
    for (const t of w.timers) clearTimeout(t);
    this.wait = null;
    this.busy = false;
    this.fill(w.slot, reply);
  }

  /** Leaves the front end; resolves once the database has the connection's reservations back (null: nothing to give back). */
  private teardown(): Promise<void> | null {
    if (!this.ctx.sessions.delete(this)) return null;
    if (this.wait) {
      for (const t of this.wait.timers) clearTimeout(t);
      this.wait = null;
    }
    this.ctx.tubeRef(this.use, "using", -1);
    for (const t of this.watch) this.ctx.tubeRef(t, "watching", -1);
    if (this.everReserved || this.reserved.size) {
      return this.ctx.front.run(S.releaseConn(this.owner), this).then(
        () => {},
        (e) => this.ctx.logError(e),
      );
    }
    return null;
  }
}
