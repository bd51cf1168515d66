/** Helpers for the persistence tests: a server process with -b, and a small pipelining client over node:net. */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");

export function tempDir(tag = "wal"): string {
  return mkdtempSync(join(tmpdir(), `beanrun-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface ServerProc {
  port: number;
  proc: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

export interface StartResult {
  server?: ServerProc;
  /** Set when the process exited before listening. */
  exitCode?: number | null;
  stderr: string;
}

/** Starts `beanrun serve -l 127.0.0.1 -p 0 -b dir ...args`; resolves when it listens or exits. */
export function startWal(dir: string, args: string[] = ["-f", "0"], timeoutMs = 15000): Promise<StartResult> {
  const proc = spawn(BUN, ["runtime/cli.ts", "serve", "-l", "127.0.0.1", "-p", "0", "-b", dir, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`server did not start in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (d: string) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m && timer) {
        clearTimeout(timer);
        const server: ServerProc = {
          port: Number(m[1]),
          proc,
          stderr: () => err,
          kill9: async () => {
            proc.kill("SIGKILL");
            await exited;
          },
          stop: async () => {
            proc.kill("SIGTERM");
            return exited;
          },
        };
        resolve({ server, stderr: err });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, stderr: err });
    });
  });
}

export interface Reply {
  line: string;
  body?: Buffer;
}

/** A beanstalkd client that keeps commands in flight and matches replies in order. */
export class Client {
  private sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  closed = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on("data", (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.parse();
    });
    const fail = (): void => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w.reject(new Error("connection closed"));
    };
    sock.on("close", fail);
    sock.on("error", fail);
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.off("error", reject);
        s.setNoDelay(true);
        resolve(new Client(s));
      });
      s.once("error", reject);
    });
  }

  private parse(): void {
    for (;;) {
      const nl = this.buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString("latin1");
      const m = /^(?:RESERVED|FOUND) \d+ (\d+)$|^OK (\d+)$/.exec(line);
      let used = nl + 2;
      let body: Buffer | undefined;
      if (m) {
        const n = Number(m[1] ?? m[2]);
        if (this.buf.length < used + n + 2) return;
        body = Buffer.from(this.buf.subarray(used, used + n));
        used += n + 2;
      }
      this.buf = this.buf.subarray(used);
      const w = this.waiting.shift();
      w?.resolve({ line, body });
    }
  }

  send(line: string, body?: string | Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("connection closed"));
      this.waiting.push({ resolve, reject });
      if (body === undefined) this.sock.write(`${line}\r\n`);
      else this.sock.write(Buffer.concat([Buffer.from(`${line}\r\n`), Buffer.from(body), Buffer.from("\r\n")]));
    });
  }

  put(body: string | Buffer, pri = 0, delay = 0, ttr = 60): Promise<Reply> {
    return this.send(`put ${pri} ${delay} ${ttr} ${Buffer.byteLength(body)}`, body);
  }

  async statsJob(id: number): Promise<Record<string, string> | null> {
    const r = await this.send(`stats-job ${id}`);
    return r.body ? yaml(r.body) : null;
  }

  async stats(): Promise<Record<string, string>> {
    return yaml((await this.send("stats")).body!);
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

export function yaml(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of b.toString("utf8").split("\n")) {
    const i = l.indexOf(": ");
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 2).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
