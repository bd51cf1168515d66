/**
 * Outgoing TCP connections on Bun's native sockets (Bun.connect), shaped as
 * the client's ByteSocket (client/connection.ts), for `run`'s worker
 * processes: loading node:net costs a Bun process about as much CPU as the
 * rest of a worker's own code (bench/runner/scale.ts's cold starts wait for
 * exactly that when a burst of tubes wakes), and Bun.connect costs nothing
 * to load.
 *
 * Node's socket semantics the Connection relies on, kept here: writes are
 * never lost (Bun's write takes what the kernel takes now; the rest waits
 * for drain), end() is a half-close after those writes (replies still
 * arrive), destroy() closes at once, and "close" comes exactly once, after
 * "error" if there was one.
 */
import type { ByteSocket } from "../client/connection.ts";

interface BunSocket {
  write(data: Uint8Array): number;
  /** Half-close (shutdown(2) of writes). Not shutdown(true): that loses what the peer sends after (Bun 1.4.5). */
  shutdown(): void;
  end(): void;
  setNoDelay?(on: boolean): boolean;
  ref(): void;
  unref(): void;
  readonly readyState: unknown;
}

class BunByteSocket implements ByteSocket {
  private readonly dataFns: ((chunk: Uint8Array) => void)[] = [];
  private readonly errorFns: ((e: Error) => void)[] = [];
  private readonly closeFns: (() => void)[] = [];
  /** Bytes the kernel has not taken yet, in order. */
  private readonly unsent: Uint8Array[] = [];
  private ending = false;
  private closed = false;
  sock: BunSocket | null = null;

  setNoDelay(on: boolean): void {
    this.sock?.setNoDelay?.(on);
  }

  on(event: "data", fn: (chunk: Uint8Array) => void): this;
  on(event: "error", fn: (e: Error) => void): this;
  on(event: "close", fn: () => void): this;
  on(event: "data" | "error" | "close", fn: ((chunk: Uint8Array) => void) | ((e: Error) => void) | (() => void)): this {
    if (event === "data") this.dataFns.push(fn as (chunk: Uint8Array) => void);
    else if (event === "error") this.errorFns.push(fn as (e: Error) => void);
    else this.closeFns.push(fn as () => void);
    return this;
  }

  write(bytes: Uint8Array): void {
    if (this.closed || this.ending || !this.sock) return;
    if (this.unsent.length) {
      this.unsent.push(bytes);
      return;
    }
    const n = this.sock.write(bytes);
    if (n < bytes.length) this.unsent.push(bytes.subarray(Math.max(0, n)));
  }

  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (!this.unsent.length) this.sock?.shutdown();
  }

  destroy(): void {
    if (this.closed) return;
    this.unsent.length = 0;
    this.sock?.end();
  }

  ref(): void {
    this.sock?.ref();
  }

  unref(): void {
    this.sock?.unref();
  }

  /** Bun's handlers. */
  onData(chunk: Uint8Array): void {
    if (!this.closed) for (const fn of this.dataFns) fn(chunk);
  }

  onDrain(): void {
    const s = this.sock;
    if (!s || this.closed) return;
    while (this.unsent.length) {
      const b = this.unsent[0]!;
      const n = s.write(b);
      if (n < b.length) {
        this.unsent[0] = b.subarray(Math.max(0, n));
        return;
      }
      this.unsent.shift();
    }
    if (this.ending) s.shutdown();
  }

  onError(e: Error): void {
    if (!this.closed) for (const fn of this.errorFns.slice()) fn(e);
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsent.length = 0;
    for (const fn of this.closeFns.slice()) fn();
  }
}

/** Connects to host:port; rejects (as net.connect's "error" would) when the connection cannot be made. */
export async function connect(host: string, port: number): Promise<ByteSocket> {
  const b = new BunByteSocket();
  b.sock = (await Bun.connect<BunByteSocket>({
    hostname: host,
    port,
    data: b,
    socket: {
      data(s, chunk) {
        s.data.onData(chunk);
      },
      drain(s) {
        s.data.onDrain();
      },
      // The peer closed its side: close ours too (node's allowHalfOpen false); "close" follows.
      end(s) {
        s.end();
      },
      error(s, e) {
        s.data.onError(e);
      },
      close(s) {
        s.data.onClose();
      },
    },
  })) as unknown as BunSocket;
  return b;
}
