/**
 * One beanstalkd connection over node:net (the same code runs under Bun,
 * Deno and a `bun build --compile` binary), or over any socket with the
 * few methods of ByteSocket: `run`'s worker processes give it Bun's native
 * socket (adapters/bun-connect.ts), since loading node:net is a sizeable
 * part of a worker's start. node:net is loaded when openSocket first runs,
 * not when this file is.
 *
 * - Requests are pipelined: each is appended to an output buffer at once and
 *   its reply is matched first-in first-out. Everything requested in the same
 *   tick goes out in a single socket write (flushed from a microtask).
 * - When the connection ends for any reason, every request still waiting
 *   rejects with a ConnectionError, later requests reject at once, and the
 *   "close" listeners run once.
 */
import type * as net from "node:net";
import { ConnectionError, type ConnectionErrorCode } from "./errors.ts";
import { type Reply, ReplyParseError, ReplyParser } from "./replies.ts";

export interface ConnectOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 11300. */
  port?: number;
  /** Give up connecting after this many milliseconds (default: the OS's limit). */
  connectTimeout?: number;
}

export type Decode<T> = (reply: Reply) => T;

interface Pending {
  command: string;
  decode: Decode<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** What Connection uses of a socket (a node:net Socket has it). */
export interface ByteSocket {
  setNoDelay(on: boolean): unknown;
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "error", fn: (e: Error) => void): unknown;
  /** Once, when the connection is fully closed (after "error", if any). */
  on(event: "close", fn: () => void): unknown;
  write(bytes: Uint8Array): unknown;
  /** Half-close: FIN after the bytes written so far; data still arrives until the peer closes. */
  end(): unknown;
  /** Closes at once; "close" follows. */
  destroy(): unknown;
  ref(): unknown;
  unref(): unknown;
}

export type CloseListener = (error: ConnectionError) => void;
export type ErrorListener = (error: Error) => void;

const utf8 = new TextEncoder();
const CRLF = new Uint8Array([13, 10]);

export async function openSocket(opts: ConnectOptions): Promise<net.Socket> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const host = opts.host ?? "127.0.0.1";
    const port = opts.port ?? 11300;
    const sock = net.connect({ host, port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onError = (e: Error): void => {
      if (timer) clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    sock.once("error", onError);
    sock.once("connect", () => {
      if (timer) clearTimeout(timer);
      sock.off("error", onError);
      resolve(sock);
    });
    if (opts.connectTimeout !== undefined) {
      timer = setTimeout(
        () => onError(new Error(`connect to ${host}:${port} timed out after ${opts.connectTimeout} ms`)),
        opts.connectTimeout,
      );
    }
  });
}

export class Connection {
  private readonly queue: Pending[] = [];
  private head = 0;
  private out: Uint8Array = new Uint8Array(512);
  private outLen = 0;
  private flushQueued = false;
  private closedError: ConnectionError | null = null;
  private quitting = false;
  private socketError: Error | undefined;
  private readonly closeListeners: CloseListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  private readonly parser: ReplyParser;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly sock: ByteSocket) {
    this.parser = new ReplyParser((r) => this.onReply(r));
    sock.setNoDelay(true);
    sock.on("data", (chunk: Uint8Array) => {
      if (this.closedError) return;
      try {
        this.parser.push(chunk);
      } catch (e) {
        if (!(e instanceof ReplyParseError)) throw e;
        this.fail("PROTOCOL_ERROR", `bad reply from server: ${e.message}`);
      }
    });
    sock.on("error", (e: Error) => {
      this.socketError ??= e;
      for (const fn of this.errorListeners.slice()) fn(e);
      this.fail("CONNECTION_CLOSED", `connection failed: ${e.message}`);
    });
    sock.on("close", () => {
      this.fail("CONNECTION_CLOSED", this.quitting ? "connection closed after quit" : "connection closed by server");
    });
  }

  /** True once the connection is closed or failed; every request then rejects. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Requests written (or about to be) whose replies have not arrived. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** "close": once, when the connection ends for any reason (the error says why). "error": each socket error. */
  on(event: "close", fn: CloseListener): this;
  on(event: "error", fn: ErrorListener): this;
  on(event: "close" | "error", fn: CloseListener | ErrorListener): this {
    if (event === "close") {
      if (this.closedError) fn(this.closedError);
      else this.closeListeners.push(fn as CloseListener);
    } else this.errorListeners.push(fn as ErrorListener);
    return this;
  }

  off(event: "close" | "error", fn: CloseListener | ErrorListener): this {
    const list: (CloseListener | ErrorListener)[] = event === "close" ? this.closeListeners : this.errorListeners;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  /** Lets the process exit while this connection is open (and idle). */
  unref(): this {
    this.sock.unref();
    return this;
  }

  ref(): this {
    this.sock.ref();
    return this;
  }

  /**
   * Queues `line` (which must end in "\r\n") and, for put, `body` followed by
   * CRLF; resolves with `decode(reply)`, or rejects with what `decode` throws.
   */
  request<T>(command: string, line: string, decode: Decode<T>, body?: Uint8Array): Promise<T> {
    if (this.closedError || this.quitting) {
      const why = this.closedError ? this.closedError.message : "connection is quitting";
      return Promise.reject(new ConnectionError("CONNECTION_CLOSED", why, command, this.socketError));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ command, decode, resolve: resolve as (v: unknown) => void, reject });
      this.writeString(line);
      if (body !== undefined) {
        this.writeBytes(body);
        this.writeBytes(CRLF);
      }
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushBound);
      }
    });
  }

  /** Sends "quit" after everything already requested; resolves when the server has closed the connection. */
  quit(): Promise<void> {
    if (this.closedError) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.closeListeners.push(() => resolve());
      if (this.quitting) return;
      this.quitting = true;
      this.writeString("quit\r\n");
      this.flush();
      this.sock.end();
    });
  }

  /**
   * Half-closes: our side ends (FIN) after what is already requested, and the
   * replies the server sent before it saw that still arrive and settle their
   * requests; the rest reject with ConnectionError once the server closes. A
   * blocking reserve ends this way too (the server closes a waiting
   * connection on EOF, as beanstalkd does), so this is how a client learns
   * whether a reserve was answered while it was giving up. Resolves when the
   * connection is closed; after `ms` without the server closing, it is closed here.
   */
  end(ms = 2000): Promise<void> {
    if (this.closedError) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.close(), ms);
      this.closeListeners.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (this.quitting) return;
      this.quitting = true;
      this.flush();
      this.sock.end();
    });
  }

  /** Closes at once; requests waiting for replies reject with ConnectionError. */
  close(): void {
    if (this.closedError) return;
    this.fail("CONNECTION_CLOSED", "connection closed by client");
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.outLen === 0 || this.closedError) return;
    const bytes = this.out.subarray(0, this.outLen);
    // The socket may hold on to what it was given: start a new buffer rather than reuse it.
    this.out = new Uint8Array(Math.min(Math.max(512, this.outLen), 1 << 16));
    this.outLen = 0;
    this.sock.write(bytes);
  }

  private reserve(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.outLen + n));
    next.set(this.out.subarray(0, this.outLen));
    this.out = next;
  }

  private writeString(s: string): void {
    this.reserve(s.length * 3);
    const out = this.out;
    let n = this.outLen;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        n += utf8.encodeInto(s.slice(i), out.subarray(n)).written;
        break;
      }
      out[n++] = c;
    }
    this.outLen = n;
  }

  private writeBytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.out.set(b, this.outLen);
    this.outLen += b.length;
  }

  private onReply(reply: Reply): void {
    if (this.head >= this.queue.length) {
      throw new ReplyParseError(`reply ${JSON.stringify(reply.word)} with no command waiting for it`);
    }
    const p = this.queue[this.head]!;
    this.queue[this.head] = undefined as unknown as Pending;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    let value: unknown;
    try {
      value = p.decode(reply);
    } catch (e) {
      p.reject(e as Error);
      return;
    }
    p.resolve(value);
  }

  private fail(code: ConnectionErrorCode, reason: string): void {
    if (this.closedError) return;
    const err = new ConnectionError(code, reason, undefined, this.socketError);
    this.closedError = err;
    const waiting = this.queue.splice(this.head);
    this.queue.length = 0;
    this.head = 0;
    this.outLen = 0;
    this.sock.destroy();
    for (const p of waiting) p.reject(new ConnectionError(code, reason, p.command, this.socketError));
    for (const fn of this.closeListeners.splice(0)) fn(err);
  }
}
