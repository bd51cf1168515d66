/**
 * Real servers for tests: the reference beanstalkd and ours, each in its own
 * process on a free loopback port.
 */
import * as net from "node:net";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;
/** Path of the reference beanstalkd, or null when it is not installed. */
export const BEANSTALKD: string | null = Bun.which("beanstalkd");

export interface ServerProcess {
  port: number;
  pid: number;
  stop(): Promise<void>;
  /** SIGKILL, no cleanup (crash tests). */
  kill(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, proc: { exitCode: number | null }, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(20);
  }
  throw new Error(`nothing listens on ${port}`);
}

function wrap(proc: ReturnType<typeof Bun.spawn>, port: number): ServerProcess {
  return {
    port,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
    kill: async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

export async function startReference(args: string[] = []): Promise<ServerProcess> {
  if (!BEANSTALKD) throw new Error("beanstalkd is not installed");
  const port = await freePort();
  const proc = Bun.spawn([BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), ...args], {
    stdout: "ignore",
    stderr: "ignore",
  });
  await waitForPort(port, proc);
  return wrap(proc, port);
}

/** Starts `beanrun serve`; resolves once it prints its listening line. */
export async function startOurs(args: string[] = [], opts: { runtime?: string[] } = {}): Promise<ServerProcess & { stderr: () => string }> {
  const cmd = [...(opts.runtime ?? [BUN]), join(ROOT, "runtime/cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...args];
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const decoder = new TextDecoder();
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`beanrun serve exited: ${text}`);
    text += decoder.decode(value);
    const m = text.match(/listening on [^\s]+:(\d+)/);
    if (m) port = Number(m[1]);
  }
  // Probe once, as for the reference, so both count the same connections.
  await waitForPort(port, proc);
  // Keep draining stderr so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value);
    }
  })();
  return { ...wrap(proc, port), stderr: () => text };
}
