/**
 * A typed, promise-based beanstalkd client over node:net (Bun, Deno and the
 * compiled binary alike). Commands may be pipelined: each call writes its
 * command at once and replies are matched in order.
 *
 *   const c = await Client.connect({ port: 11300 });
 *   const id = await c.put("hello", { priority: 10, ttr: 60 });
 *   const job = await c.reserveWithTimeout(5); // null on TIMED_OUT
 *   if (job) await c.delete(job.id);
 */
import * as net from "node:net";
import { parseYaml, parseYamlList } from "./yaml.ts";
import { BeanstalkError, type ErrorCode } from "./errors.ts";

export { BeanstalkError, type ErrorCode } from "./errors.ts";

export interface Job {
  id: number;
  body: Uint8Array;
}

export interface PutOptions {
  /** 0 is most urgent; default 1024. */
  priority?: number;
  /** Seconds before the job becomes ready; default 0. */
  delay?: number;
  /** Seconds a worker may hold the job; default 60. */
  ttr?: number;
}

export type Stats = Record<string, string | number>;

/** What a reply looks like on the wire, as the parser sees it. */
interface Pending {
  resolve(r: Reply): void;
  reject(e: Error): void;
}

interface Reply {
  word: string;
  args: string[];
  body?: Uint8Array;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Replies that carry `<bytes>` of data after the line. */
const WITH_BODY: Record<string, number> = { RESERVED: 2, FOUND: 2, OK: 1 };

export class Client {
  private buf: Uint8Array = new Uint8Array(0);
  private pending: Pending[] = [];
  private closedError: Error | null = null;
  private closeListeners: ((err?: Error) => void)[] = [];

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Uint8Array) => this.onData(d));
    sock.on("error", (e: Error) => this.fail(e));
    sock.on("close", () => this.fail(new Error("connection closed")));
  }

  static connect(opts: { host?: string; port?: number } = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(opts.port ?? 11300, opts.host ?? "127.0.0.1");
      const onError = (e: Error) => reject(e);
      sock.once("error", onError);
      sock.once("connect", () => {
        sock.off("error", onError);
        resolve(new Client(sock));
      });
    });
  }

  /** Called once when the connection is lost (or closed by us). */
  onClose(fn: (err?: Error) => void): void {
    if (this.closedError) fn(this.closedError);
    else this.closeListeners.push(fn);
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    this.sock.end("quit\r\n");
    await new Promise<void>((r) => this.onClose(() => r()));
  }

  // ---- producer commands -----------------------------------------------------

  async put(body: Uint8Array | string, opts: PutOptions = {}): Promise<number> {
    const data = typeof body === "string" ? encoder.encode(body) : body;
    const head = `put ${opts.priority ?? 1024} ${opts.delay ?? 0} ${opts.ttr ?? 60} ${data.length}\r\n`;
    const r = await this.send(head, data);
    if (r.word === "INSERTED") return Number(r.args[0]);
    if (r.word === "BURIED") throw new BeanstalkError("BURIED", "put", Number(r.args[0]));
    throw this.unexpected("put", r);
  }

  async use(tube: string): Promise<string> {
    const r = await this.send(`use ${tube}\r\n`);
    if (r.word === "USING") return r.args[0]!;
    throw this.unexpected("use", r);
  }

  // ---- worker commands -------------------------------------------------------

  async reserve(): Promise<Job> {
    const job = this.jobReply("reserve", await this.send("reserve\r\n"), "RESERVED");
    if (!job) throw new BeanstalkError("NOT_FOUND", "reserve");
    return job;
  }

  /** Waits up to `seconds` for a job; null when none came (TIMED_OUT). */
  async reserveWithTimeout(seconds: number): Promise<Job | null> {
    const r = await this.send(`reserve-with-timeout ${seconds}\r\n`);
    if (r.word === "TIMED_OUT") return null;
    return this.jobReply("reserve-with-timeout", r, "RESERVED");
  }

  async reserveJob(id: number): Promise<Job | null> {
    return this.jobReply("reserve-job", await this.send(`reserve-job ${id}\r\n`), "RESERVED");
  }

  async delete(id: number): Promise<void> {
    await this.expect(`delete ${id}\r\n`, "DELETED");
  }

  async release(id: number, priority = 1024, delay = 0): Promise<void> {
    await this.expect(`release ${id} ${priority} ${delay}\r\n`, "RELEASED");
  }

  async bury(id: number, priority = 1024): Promise<void> {
    await this.expect(`bury ${id} ${priority}\r\n`, "BURIED");
  }

  async touch(id: number): Promise<void> {
    await this.expect(`touch ${id}\r\n`, "TOUCHED");
  }

  /** Returns the number of tubes watched. */
  async watch(tube: string): Promise<number> {
    const r = await this.send(`watch ${tube}\r\n`);
    if (r.word === "WATCHING") return Number(r.args[0]);
    throw this.unexpected("watch", r);
  }

  /** Returns the number of tubes still watched; NOT_IGNORED when it is the last one. */
  async ignore(tube: string): Promise<number> {
    const r = await this.send(`ignore ${tube}\r\n`);
    if (r.word === "WATCHING") return Number(r.args[0]);
    throw this.unexpected("ignore", r);
  }

  // ---- other commands --------------------------------------------------------

  async peek(id: number): Promise<Job | null> {
    return this.jobReply("peek", await this.send(`peek ${id}\r\n`), "FOUND");
  }

  async peekReady(): Promise<Job | null> {
    return this.jobReply("peek-ready", await this.send("peek-ready\r\n"), "FOUND");
  }

  async peekDelayed(): Promise<Job | null> {
    return this.jobReply("peek-delayed", await this.send("peek-delayed\r\n"), "FOUND");
  }

  async peekBuried(): Promise<Job | null> {
    return this.jobReply("peek-buried", await this.send("peek-buried\r\n"), "FOUND");
  }

  /** Kicks up to `bound` buried (or, if none, delayed) jobs of the used tube. */
  async kick(bound: number): Promise<number> {
    const r = await this.send(`kick ${bound}\r\n`);
    if (r.word === "KICKED") return Number(r.args[0]);
    throw this.unexpected("kick", r);
  }

  async kickJob(id: number): Promise<void> {
    await this.expect(`kick-job ${id}\r\n`, "KICKED");
  }

  async stats(): Promise<Stats> {
    return parseYaml(await this.okBody("stats", "stats\r\n"));
  }

  async statsTube(tube: string): Promise<Stats> {
    return parseYaml(await this.okBody("stats-tube", `stats-tube ${tube}\r\n`));
  }

  async statsJob(id: number): Promise<Stats> {
    return parseYaml(await this.okBody("stats-job", `stats-job ${id}\r\n`));
  }

  async listTubes(): Promise<string[]> {
    return parseYamlList(await this.okBody("list-tubes", "list-tubes\r\n"));
  }

  async listTubesWatched(): Promise<string[]> {
    return parseYamlList(await this.okBody("list-tubes-watched", "list-tubes-watched\r\n"));
  }

  async listTubeUsed(): Promise<string> {
    const r = await this.send("list-tube-used\r\n");
    if (r.word === "USING") return r.args[0]!;
    throw this.unexpected("list-tube-used", r);
  }

  async pauseTube(tube: string, seconds: number): Promise<void> {
    await this.expect(`pause-tube ${tube} ${seconds}\r\n`, "PAUSED");
  }

  // ---- plumbing --------------------------------------------------------------

  private send(line: string, body?: Uint8Array): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      if (body) {
        const head = encoder.encode(line);
        const out = new Uint8Array(head.length + body.length + 2);
        out.set(head);
        out.set(body, head.length);
        out[out.length - 2] = 13;
        out[out.length - 1] = 10;
        this.sock.write(out);
      } else {
        this.sock.write(line);
      }
    });
  }

  private async expect(line: string, word: string): Promise<void> {
    const r = await this.send(line);
    if (r.word !== word) throw this.unexpected(line.split(" ")[0]!.trim(), r);
  }

  private async okBody(cmd: string, line: string): Promise<string> {
    const r = await this.send(line);
    if (r.word !== "OK") throw this.unexpected(cmd, r);
    return decoder.decode(r.body!);
  }

  private jobReply(cmd: string, r: Reply, word: string): Job | null {
    if (r.word === word) return { id: Number(r.args[0]), body: r.body! };
    if (r.word === "NOT_FOUND") return null;
    throw this.unexpected(cmd, r);
  }

  private unexpected(cmd: string, r: Reply): BeanstalkError {
    return new BeanstalkError((r.word || "UNEXPECTED") as ErrorCode, cmd);
  }

  private onData(d: Uint8Array): void {
    // Append (copy only the unparsed remainder), then parse every complete reply.
    if (this.buf.length === 0) this.buf = d;
    else {
      const next = new Uint8Array(this.buf.length + d.length);
      next.set(this.buf);
      next.set(d, this.buf.length);
      this.buf = next;
    }
    const buf = this.buf;
    let pos = 0;
    for (;;) {
      const cr = buf.indexOf(13, pos);
      if (cr < 0 || cr + 1 >= buf.length) break;
      const line = decoder.decode(buf.subarray(pos, cr));
      const parts = line.split(" ");
      const word = parts[0]!;
      const args = parts.slice(1);
      const sizeArg = WITH_BODY[word];
      let body: Uint8Array | undefined;
      let next = cr + 2;
      if (sizeArg !== undefined) {
        const size = Number(args[sizeArg - 1]);
        if (next + size + 2 > buf.length) break;
        body = buf.slice(next, next + size);
        next += size + 2;
      }
      pos = next;
      const p = this.pending.shift();
      if (!p) {
        this.fail(new Error(`unexpected reply from server: ${line}`));
        return;
      }
      p.resolve({ word, args, body });
    }
    this.buf = pos === buf.length ? new Uint8Array(0) : buf.subarray(pos);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.splice(0)) p.reject(err);
    for (const fn of this.closeListeners.splice(0)) fn(err);
    this.sock.destroy();
  }
}

/** Decodes a job body as UTF-8 text. */
export function text(job: Job): string {
  return decoder.decode(job.body);
}

/** Decodes a job body as JSON. */
export function json<T = unknown>(job: Job): T {
  return JSON.parse(decoder.decode(job.body)) as T;
}
