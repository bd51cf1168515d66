/**
 * Starting `beanrun run` the way an operator does (any command line: the
 * source tree under Bun, a compiled executable, behind setpriv) and putting a
 * job to it, for the deploy and example-job tests. The process is killed when
 * the test process exits, whatever happens.
 */
import { expect } from "bun:test";
import { Wire } from "../support/wire.ts";

export interface Launched {
  port: number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM; resolves with the exit code once it is gone (SIGKILL after 30 s). */
  stop(): Promise<number | null>;
}

const live = new Set<ReturnType<typeof Bun.spawn>>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/** Spawns `cmd` and resolves once it prints `listening on ADDR:PORT` on stderr. */
export async function launch(cmd: string[], opts: { cwd: string; env: Record<string, string | undefined> }): Promise<Launched> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdout: "ignore", stderr: "pipe" });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited before listening:\n${text}`);
    text += decoder.decode(value, { stream: true });
    const m = /listening on [^\s]+:(\d+)/.exec(text);
    if (m) port = Number(m[1]);
  }
  // Keep reading so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return {
    port,
    stderr: () => text,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** `use TUBE` and one put of `body` (UTF-8) on a fresh connection. */
export async function putJob(port: number, tube: string, body: string): Promise<void> {
  const w = await Wire.open(port);
  try {
    expect(await w.cmd(`use ${tube}\r\n`)).toBe(`USING ${tube}\r\n`);
    const bytes = Buffer.from(body);
    const put = Buffer.concat([Buffer.from(`put 100 0 30 ${bytes.length}\r\n`), bytes, Buffer.from("\r\n")]);
    expect(await w.cmd(put)).toMatch(/^INSERTED \d+\r\n$/);
  } finally {
    w.close();
  }
}

/** Resolves once `path` exists (checked every 50 ms, for up to `ms`). */
export async function waitForFile(path: string, ms = 30_000): Promise<void> {
  const { existsSync } = await import("node:fs");
  for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(50)) if (existsSync(path)) return;
  throw new Error(`${path} did not appear within ${ms} ms`);
}

export const ORDER = {
  orderId: "A-1001",
  customer: { name: "Zoë Müller", email: "zoe@example.org" },
  items: [{ sku: "MUG-1", name: "Mug", quantity: 2, unitPrice: 1250 }],
};
