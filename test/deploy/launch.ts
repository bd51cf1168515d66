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
  /** Everything the process wrote (stdout and stderr) so far. */
  stderr(): string;
  /** SIGTERM; resolves with the exit code once it is gone (SIGKILL after 30 s). */
  stop(): Promise<number | null>;
}

const live = new Set<ReturnType<typeof Bun.spawn>>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/**
 * Spawns `cmd` and resolves once its output (stdout and stderr together)
 * matches `ready`; by default `listening on ADDR:PORT`, whose port is returned.
 */
export async function launch(
  cmd: string[],
  opts: { cwd: string; env: Record<string, string | undefined>; ready?: RegExp },
): Promise<Launched> {
  const ready = opts.ready ?? /listening on [^\s]+:(\d+)/;
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  let text = "";
  let wake = (): void => {};
  const drain = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      wake();
    }
  };
  // Both pipes are read to the end, so the child never blocks on a full pipe.
  const done = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  // Not ready within 60 s: killed, so the wait below ends with an error, not a test timeout.
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  // No chunk is handled between a check and the next wait (one thread), so no wake-up is lost.
  let m = ready.exec(text);
  while (!m) {
    const ended = await Promise.race([new Promise<false>((r) => (wake = () => r(false))), done.then(() => true)]);
    m = ready.exec(text);
    if (!m && ended) throw new Error(`${cmd.join(" ")} exited (or was killed after 60 s) before ${ready}:\n${text}`);
  }
  clearTimeout(deadline);
  const port = Number(m[1] ?? 0);
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
