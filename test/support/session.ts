/**
 * The protocol driven in this process, byte for byte, with no sockets and no
 * real time: a Queue on a FakeClock and Connections on fake sockets, wired
 * the way runtime/server wires them (replies flushed once per event and
 * after every timer). Tests send raw command bytes and read raw replies, so
 * they check exactly what a client would see, and `advance(ms)` replaces
 * every sleep.
 *
 *   const h = new ProtocolHarness();
 *   const c = h.connect();
 *   c.send("reserve-with-timeout 1\r\n");
 *   h.advance(1000);
 *   expect(c.take()).toBe("TIMED_OUT\r\n");
 */

import type { TransportSocket } from "../../runtime/adapters/transport.ts";
import { Connection } from "../../runtime/protocol/connection.ts";
import type { Compat, ProtocolContext, Scheduled } from "../../runtime/protocol/context.ts";
import { Op } from "../../runtime/protocol/ops.ts";
import { Queue, type QueueCounters, type QueueOptions } from "../../runtime/queue/queue.ts";
import { FakeClock } from "./fake-clock.ts";

/** A protocol context for driving Connections by hand: marked connections are collected in the given arrays. */
export function protocolContext(
  queue: Queue,
  dirty: Scheduled[],
  runnable: Scheduled[] = [],
  opts: { compat?: Compat; log?: (line: string) => void } = {},
): ProtocolContext {
  return {
    queue,
    ops: new Float64Array(Op.Count),
    host: { pid: 1, version: "t", hostname: "h", os: "o", platform: "p", instanceId: "0", cpuUsage: () => ({ user: 0, system: 0 }) },
    compat: opts.compat ?? "1.13",
    log: opts.log ?? (() => {}),
    markDirty: (c) => void dirty.push(c),
    markRunnable: (c) => void runnable.push(c),
  };
}

/** One client connection of a ProtocolHarness. */
export class Client {
  private received: Uint8Array[] = [];
  /** The server closed its side. */
  ended = false;
  /** The queue as it was when the server sent its FIN: counters and tube names. */
  atFin: { counters: QueueCounters; tubes: string[] } | null = null;
  readonly conn: Connection;

  constructor(
    private readonly h: ProtocolHarness,
    ctx: ProtocolContext,
  ) {
    const sock: TransportSocket = {
      write: (d, start, end) => {
        this.received.push(d.slice(start, end));
        return end - start;
      },
      end: () => {
        this.ended = true;
        this.atFin = { counters: { ...h.queue.counters }, tubes: h.queue.tubes.map((t) => t.name) };
      },
      pause() {},
      resume() {},
    };
    this.conn = new Connection(ctx, sock);
  }

  /** Sends bytes (a string is latin1) as one read on the server's side. */
  send(data: string | Uint8Array): this {
    this.conn.onData(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    this.h.settle();
    return this;
  }

  /** Half-closes (the peer's FIN). */
  end(): void {
    this.conn.onEnd();
    this.h.settle();
  }

  /** Closes abruptly. */
  close(): void {
    this.conn.onClose();
    this.h.settle();
  }

  /** Everything received since the last call, as latin1 text. */
  take(): string {
    return Buffer.concat(this.received.splice(0)).toString("latin1");
  }

  /** Sends a command and returns what it produced at once. */
  cmd(data: string): string {
    this.send(data);
    return this.take();
  }
}

export class ProtocolHarness {
  readonly clock: FakeClock;
  readonly queue: Queue;
  readonly ctx: ProtocolContext;
  readonly logs: string[] = [];
  private readonly dirty: Scheduled[] = [];
  private readonly runnable: Scheduled[] = [];

  constructor(opts: Omit<QueueOptions, "clock"> & { compat?: Compat } = {}) {
    this.clock = new FakeClock();
    this.queue = new Queue({ ...opts, clock: this.clock });
    this.ctx = protocolContext(this.queue, this.dirty, this.runnable, { compat: opts.compat, log: (l) => void this.logs.push(l) });
    this.clock.afterTimer = () => this.settle();
  }

  connect(): Client {
    return new Client(this, this.ctx);
  }

  /** Moves time forward, firing due timers (and flushing their replies) on the way. */
  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /** What the server does at the end of every event. */
  settle(): void {
    while (this.runnable.length || this.dirty.length) {
      while (this.runnable.length) this.runnable.shift()!.resume();
      for (const c of this.dirty.splice(0)) c.flush();
    }
  }
}
