/**
 * Runs `beanrun run` (or the compiled binary) as a real subprocess with JSON
 * logs and lets tests wait for log events.
 */
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;
export const FIXTURES = join(import.meta.dir, "fixtures");

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  tube?: string;
  id?: number;
  attempt?: number;
  event?: string;
  [k: string]: unknown;
}

export interface Runner {
  port: number;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first line (past or future) matching `pred`. */
  waitFor(pred: (l: LogLine) => boolean, ms?: number, what?: string): Promise<LogLine>;
  /** Waits until `n` lines match. */
  waitCount(pred: (l: LogLine) => boolean, n: number, ms?: number, what?: string): Promise<LogLine[]>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number>;
  stop(): Promise<number>;
  client(): Promise<Client>;
}

export async function startRunner(
  args: string[],
  opts: { cmd?: string[]; cwd?: string; env?: Record<string, string>; connectPort?: number } = {},
): Promise<Runner> {
  const cmd = [...(opts.cmd ?? [BUN, join(ROOT, "runtime/cli.ts")]), "run", "--log-format", "json", ...args];
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: LogLine[] = [];
  let err = "";
  let waiters: (() => void)[] = [];
  const notify = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const decoder = new TextDecoder();
  void (async () => {
    let buf = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      buf += decoder.decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          lines.push(JSON.parse(line) as LogLine);
        } catch {
          lines.push({ time: "", level: "raw", msg: line });
        }
      }
      notify();
    }
    notify();
  })();
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      err += decoder.decode(chunk);
      notify();
    }
  })();

  const waitCount = async (pred: (l: LogLine) => boolean, n: number, ms = 10_000, what = "log line"): Promise<LogLine[]> => {
    const end = Date.now() + ms;
    for (;;) {
      const found = lines.filter(pred);
      if (found.length >= n) return found;
      const left = end - Date.now();
      if (left <= 0 || proc.exitCode !== null) {
        throw new Error(
          `timed out waiting for ${n} x ${what} (saw ${found.length}); exit=${proc.exitCode}\nstdout:\n${lines
            .map((l) => JSON.stringify(l))
            .join("\n")}\nstderr:\n${err}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };

  let port = opts.connectPort ?? 0;
  if (!port) {
    const end = Date.now() + 10_000;
    while (!port) {
      const m = err.match(/listening on [^\s]+:(\d+)/);
      if (m) port = Number(m[1]);
      else if (proc.exitCode !== null || Date.now() > end) throw new Error(`runner did not start: ${err}`);
      else await Bun.sleep(10);
    }
  }
  const exited = proc.exited;
  const runner: Runner = {
    port,
    lines,
    stderr: () => err,
    waitFor: async (pred, ms, what) => (await waitCount(pred, 1, ms, what))[0]!,
    waitCount,
    signal: (sig) => proc.kill(sig),
    exited,
    stop: async () => {
      proc.kill("SIGTERM");
      return exited;
    },
    client: () => Client.connect({ port }),
  };
  await runner.waitFor((l) => l.event === "ready", 15_000, "ready");
  return runner;
}

export async function put(c: Client, tube: string, body: unknown, opts: { ttr?: number; priority?: number } = {}): Promise<number> {
  await c.use(tube);
  return c.put(typeof body === "string" ? body : JSON.stringify(body), { ttr: opts.ttr ?? 10, priority: opts.priority });
}

export const ev = (event: string, id?: number) => (l: LogLine) => l.event === event && (id === undefined || l.id === id);
