/**
 * The one raw wire client of the tests: exact bytes out, and replies in
 * either one at a time (`reply`, `cmd`) or as everything received so far
 * (`received`, `until`) for tests that look at the byte stream itself.
 *
 * A reply is one line ending in "\r\n"; for `OK <n>`, `FOUND <id> <n>` and
 * `RESERVED <id> <n>` it also includes the n data bytes and their trailing
 * "\r\n" (n + 2 bytes, whatever they contain). Replies are returned as latin1
 * strings so every byte value survives unchanged.
 *
 * Pipelining (`request`, and `put`, `statsJob`, `stats` on top of it): each
 * command is sent at once and its promise resolves with its own reply, split
 * into the line and the data bytes (Reply), once the replies before it have
 * been read; many commands can be in flight on one connection. A request
 * rejects when the server closes first, so a test that kills the server
 * sees every unanswered command fail. Use either requests or reply()/cmd()
 * on one connection, not both.
 */
import * as net from "node:net";

/** Returned by reply() when nothing complete arrived in time. */
export const NONE = "<none>";
/** Returned by reply() when the server closed the connection. */
export const CLOSED = "<closed>";

const DATA_LINE = /^(?:OK (\d+)|FOUND \d+ (\d+)|RESERVED \d+ (\d+))$/;

/** A reply split: its first line, and for OK / FOUND / RESERVED the data bytes. */
export interface Reply {
  line: string;
  body?: Buffer;
}

/** Splits one complete reply (as reply() returns it) into line and data. */
export function splitReply(r: string): Reply {
  const cr = r.indexOf("\r\n");
  const line = r.slice(0, cr);
  return DATA_LINE.test(line) ? { line, body: Buffer.from(r.slice(cr + 2, r.length - 2), "latin1") } : { line };
}

/** The flat YAML dictionary of a stats reply's data (quotes around strings removed). */
export function yamlDict(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of b.toString("utf8").split("\n")) {
    const i = l.indexOf(": ");
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 2).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

export class Wire {
  private buf: Buffer = Buffer.alloc(0);
  private readonly all: Buffer[] = [];
  private readonly wakers = new Set<() => void>();
  /** The last request's reply: the next request reads its own after it. */
  private inFlight: Promise<unknown> = Promise.resolve();
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => {
      this.all.push(d);
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", () => {});
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  static open(port: number, host = "127.0.0.1"): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new Wire(s)));
      s.once("error", reject);
    });
  }

  /**
   * One whole conversation: connects, sends `input` in one write, half-closes,
   * and resolves with everything the server sent once it has closed (the
   * server answers all of it first, as beanstalkd does after a FIN).
   */
  static async exchange(port: number, input: string | Uint8Array, host = "127.0.0.1"): Promise<string> {
    const w = await Wire.open(port, host);
    w.send(input);
    w.end();
    await w.closedNow();
    return w.received();
  }

  /** Resolves once the connection has closed (the server hung up, or close()). */
  closedNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (!this.closed) return;
        this.wakers.delete(done);
        resolve();
      };
      this.wakers.add(done);
    });
  }

  /** Sends the bytes in one write (a string is taken as latin1, byte per char). */
  send(data: string | Uint8Array): void {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Sends several commands concatenated into a single write (one packet on loopback). */
  sendPipelined(parts: (string | Uint8Array)[]): void {
    this.send(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p)))));
  }

  /** Sends every byte in its own write, pausing between them so each is its own TCP segment. */
  async sendBytewise(data: string | Uint8Array, pauseMs = 2): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
    for (const b of bytes) {
      this.sock.write(Buffer.from([b]));
      await Bun.sleep(pauseMs);
    }
  }

  /** Length in bytes of the first complete reply in the buffer, or 0. */
  private replyLength(): number {
    const cr = this.buf.indexOf("\r\n");
    if (cr < 0) return 0;
    const m = DATA_LINE.exec(this.buf.subarray(0, cr).toString("latin1"));
    if (!m) return cr + 2;
    const n = Number(m[1] ?? m[2] ?? m[3]);
    const total = cr + 2 + n + 2;
    return this.buf.length >= total ? total : 0;
  }

  /** True when a complete reply is buffered (nothing is consumed). */
  hasReply(): boolean {
    return this.replyLength() > 0;
  }

  /** Bytes received but not yet returned as a complete reply. */
  pending(): string {
    return this.buf.toString("latin1");
  }

  /**
   * Waits until a complete reply is buffered or the connection closes,
   * without consuming it. Resolves true if a reply is there.
   */
  async waitReply(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      if (this.replyLength()) return true;
      if (this.closed) return false;
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.wakers.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.wakers.add(done);
      });
    }
  }

  /** The next reply; NONE if none is complete within `ms`; CLOSED if the server hung up first. */
  async reply(ms = 3000): Promise<string> {
    await this.waitReply(ms);
    const n = this.replyLength();
    if (n) {
      const r = this.buf.subarray(0, n).toString("latin1");
      this.buf = this.buf.subarray(n);
      return r;
    }
    return this.closed ? CLOSED : NONE;
  }

  /** True when nothing is buffered and no byte arrives within `ms` (e.g. a reserve that must keep blocking). */
  async expectNone(ms: number): Promise<boolean> {
    if (this.buf.length > 0 || this.closed) return false;
    await Bun.sleep(ms);
    return this.buf.length === 0 && !this.closed;
  }

  /** Sends one command and returns its reply. */
  async cmd(data: string | Uint8Array, ms?: number): Promise<string> {
    this.send(data);
    return this.reply(ms);
  }

  /**
   * Pipelining: sends `line` (CRLF added) and, if given, `body` as a data
   * block (strings as UTF-8), and resolves with this command's reply once the
   * earlier requests have theirs. Rejects if the server closes before
   * replying, or nothing comes within `ms` of the previous reply.
   */
  request(line: string, body?: string | Uint8Array, ms = 60_000): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error("connection closed"));
    const head = Buffer.from(`${line}\r\n`, "latin1");
    this.send(body === undefined ? head : Buffer.concat([head, Buffer.from(body), Buffer.from("\r\n")]));
    const r = this.inFlight.then(async () => {
      const text = await this.reply(ms);
      if (text === CLOSED) throw new Error("connection closed");
      if (text === NONE) throw new Error(`no reply to "${line}" within ${ms} ms`);
      return splitReply(text);
    });
    this.inFlight = r.catch(() => {});
    return r;
  }

  /** Pipelined `put`: the body's byte length is computed here. */
  put(body: string | Uint8Array, pri = 0, delay = 0, ttr = 60): Promise<Reply> {
    const data = Buffer.from(body);
    return this.request(`put ${pri} ${delay} ${ttr} ${data.length}`, data);
  }

  /** Pipelined `stats-job`: the job's fields, or null when it is not found. */
  async statsJob(id: number): Promise<Record<string, string> | null> {
    const r = await this.request(`stats-job ${id}`);
    return r.body ? yamlDict(r.body) : null;
  }

  /** Pipelined `stats`: the server's fields. */
  async stats(): Promise<Record<string, string>> {
    const r = await this.request("stats");
    if (!r.body) throw new Error(`stats: ${r.line}`);
    return yamlDict(r.body);
  }

  /** Everything received since the connection opened, as latin1 text (replies consumed by reply() included). */
  received(): string {
    return Buffer.concat(this.all).toString("latin1");
  }

  /** Waits until received() satisfies `done`, the server closes, or `ms` pass; returns received(). */
  async until(done: (text: string) => boolean, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (!done(this.received()) && !this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(wake, 50);
        const self = this;
        function wake() {
          clearTimeout(t);
          self.wakers.delete(wake);
          resolve();
        }
        this.wakers.add(wake);
      });
    }
    return this.received();
  }

  /** Stops reading from the socket (a client that does not read its replies). */
  pause(): void {
    this.sock.pause();
  }

  /** Closes abruptly (both directions). */
  close(): void {
    this.sock.destroy();
  }

  /** Half-closes: sends FIN, keeps reading. */
  end(): void {
    this.sock.end();
  }
}
