/**
 * What the protocol layer shares and what a command handler may touch.
 *
 * - ProtocolContext: one per server, shared by all its connections.
 * - Session: the connection as command handlers see it (its output, its
 *   queue-side `Conn`, and the few things a command can ask of the
 *   connection: send a job or a YAML body, read a body, wait, close).
 *   Handlers take this interface, never the concrete Connection, so the
 *   command families depend only on this file and the queue.
 */

import type { Conn } from "../queue/conn.ts";
import type { Queue } from "../queue/queue.ts";
import type { Output } from "./output.ts";

export type Compat = "1.12" | "1.13";

/** Facts about the host and process that stats reports. */
export interface HostInfo {
  pid: number;
  version: string;
  hostname: string;
  os: string;
  platform: string;
  /** Random hex string identifying this server instance. */
  instanceId: string;
  /** User and system CPU time in microseconds. */
  cpuUsage(): { user: number; system: number };
}

/** A connection as the server's event loop sees it: replies to flush, held input to resume. */
export interface Scheduled {
  flush(): void;
  resume(): void;
}

/** Shared by all connections of one server. */
export interface ProtocolContext {
  queue: Queue;
  /** Command counters for stats, indexed by Op. */
  ops: Float64Array;
  host: HostInfo;
  compat: Compat;
  /** Operator-facing warnings (stderr in the server). */
  log(line: string): void;
  /**
   * Failure records, for the note/peek-note extensions
   * (docs/protocol-extensions.md); without it those words are unknown.
   * `set` is called for live jobs only and answers false for data that is not a record.
   */
  failures?: { set(id: number, json: string): boolean; getText(id: number): string | undefined };
  /** Asks for `flush` at the end of the current event. */
  markDirty(c: Scheduled): void;
  /** Asks for `resume` at the end of the current event. */
  markRunnable(c: Scheduled): void;
}

/** The connection a command runs on. */
export interface Session {
  readonly ctx: ProtocolContext;
  readonly out: Output;
  /** The queue's view of this connection (tubes used and watched, reservations). */
  readonly conn: Conn;
  /** Appends `<prefix><id> <bytes>\r\n<body>\r\n` for the job in `slot`. */
  sendJob(prefix: string, slot: number): void;
  /** Appends `OK <bytes>\r\n<yaml>\r\n`. */
  sendYaml(yaml: string): void;
  /** The next bytes on the wire are the body of the job allocated in `slot`. */
  beginBody(slot: number): void;
  /**
   * The next n bytes and a "\r\n" are a data block of an extension command:
   * read them into a buffer of their own and pass the n bytes to `done`
   * (a missing "\r\n" is answered EXPECTED_CRLF instead).
   */
  readData(n: number, done: (data: Uint8Array) => void): void;
  /** Discards the next n bytes, then replies `reply`. */
  skip(n: number, reply: Uint8Array): void;
  /** The command waits (a blocking reserve): stop reading commands until the queue answers. */
  block(): void;
  /** Closes the connection once pending replies are written. */
  quit(): void;
}
