/**
 * A raw protocol session for tests: exact bytes out, exactly one reply in
 * (a line, plus its data block for OK/FOUND/RESERVED).
 */
import * as net from "node:net";

export class Wire {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    sock.on("error", () => {});
  }

  static open(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(new Wire(s)));
      s.once("error", reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Sends every byte in its own write, with a short pause between. */
  async sendSlowly(data: string): Promise<void> {
    for (const b of Buffer.from(data, "latin1")) {
      this.sock.write(Buffer.from([b]));
      await Bun.sleep(1);
    }
  }

  /** Length of the first complete reply in the buffer, or 0. */
  private replyLength(): number {
    const cr = this.buf.indexOf("\r\n");
    if (cr < 0) return 0;
    const line = this.buf.subarray(0, cr).toString("latin1");
    const m = /^(?:OK (\d+)|FOUND \d+ (\d+)|RESERVED \d+ (\d+))$/.exec(line);
    if (!m) return cr + 2;
    const n = Number(m[1] ?? m[2] ?? m[3]);
    return this.buf.length >= cr + 2 + n + 2 ? cr + 2 + n + 2 : 0;
  }

  /** The next reply, or "<none>" if none arrives within `ms`, or "<closed>". */
  async reply(ms = 3000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const n = this.replyLength();
      if (n) {
        const r = this.buf.subarray(0, n).toString("latin1");
        this.buf = this.buf.subarray(n);
        return r;
      }
      if (this.closed) return "<closed>";
      const left = end - Date.now();
      if (left <= 0) return "<none>";
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = null;
    }
  }

  /** Sends one command and returns its reply. */
  async cmd(line: string, ms?: number): Promise<string> {
    this.send(line);
    return this.reply(ms);
  }

  close(): void {
    this.sock.destroy();
  }

  end(): void {
    this.sock.end();
  }
}
