/**
 * Runs `beanrun run` (or the compiled binary) as a real subprocess and lets
 * tests wait for its typed events (runtime/runner/events.ts). The events
 * reach the test as the JSON log's lines, the stream's serialization, read
 * back with parseEventLine: tests match on event types and fields, never on
 * the wording of a message.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { parseEventLine, type RunnerEvent, type Timed } from "../../runtime/runner/events.ts";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;
export const FIXTURES = join(import.meta.dir, "fixtures");

/** An event as a test sees it: any field may be read (narrow with `type` for exact types). */
export type Ev = Timed & Record<string, unknown> & { tube?: string; id?: number; attempt?: number; pid?: number };

export interface Runner {
  port: number;
  events: Ev[];
  /** Output lines that are not events. */
  other: string[];
  pid: number;
  stderr(): string;
  /** Resolves with the first line (past or future) matching `pred`. */
  waitFor(pred: (e: Ev) => boolean, ms?: number, what?: string): Promise<Ev>;
  /** Waits until `n` lines match. */
  waitCount(pred: (e: Ev) => boolean, n: number, ms?: number, what?: string): Promise<Ev[]>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number>;
  stop(): Promise<number>;
  client(): Promise<Client>;
}

export async function startRunner(
  args: string[],
  opts: { cmd?: string[]; cwd?: string; env?: Record<string, string>; connectPort?: number } = {},
): Promise<Runner> {
  const cmd = [...(opts.cmd ?? [BUN, join(ROOT, "runtime/cli.ts")]), "run", "--log-format", "json", "--log-level", "debug", ...args];
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: Ev[] = [];
  const other: string[] = [];
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
        const e = parseEventLine(line);
        if (e) lines.push(e as Ev);
        else other.push(line);
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

  const waitCount = async (pred: (e: Ev) => boolean, n: number, ms = 10_000, what = "event"): Promise<Ev[]> => {
    const end = Date.now() + ms;
    for (;;) {
      const found = lines.filter(pred);
      if (found.length >= n) return found;
      const left = end - Date.now();
      if (left <= 0 || proc.exitCode !== null) {
        throw new Error(
          `timed out waiting for ${n} x ${what} (saw ${found.length}); exit=${proc.exitCode}\nevents:\n${lines
            .map((l) => JSON.stringify(l))
            .join("\n")}\nother output:\n${other.join("\n")}\nstderr:\n${err}`,
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
      // The listening line is on stderr, or a JSON log line on stdout with --log-format json.
      const m = err.match(/listening on [^\s]+:(\d+)/) ?? other.join("\n").match(/listening on [^\s"]+:(\d+)/);
      if (m) port = Number(m[1]);
      else if (proc.exitCode !== null || Date.now() > end) throw new Error(`runner did not start: ${err}`);
      else await Bun.sleep(10);
    }
  }
  const exited = proc.exited;
  const runner: Runner = {
    port,
    events: lines,
    other,
    pid: proc.pid,
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
  await runner.waitFor((e) => e.type === "runner.ready", 15_000, "runner.ready");
  return runner;
}

export async function put(
  c: Client,
  tube: string,
  body: unknown,
  opts: { ttr?: number; priority?: number; delay?: number } = {},
): Promise<number> {
  await c.use(tube);
  return c.put(typeof body === "string" ? body : JSON.stringify(body), { ttr: opts.ttr ?? 10, priority: opts.priority, delay: opts.delay });
}

export const ev = (type: RunnerEvent["type"], id?: number) => (e: Ev) => e.type === type && (id === undefined || e.id === id);

/** A job buried because its payload was unusable. */
export const invalid = (id: number) => (e: Ev) => e.type === "job.buried" && e.id === id && e.reason === "invalid";

/** A line the handler wrote with ctx.log. */
export const said = (msg: string, id?: number) => (e: Ev) => e.type === "job.log" && e.msg === msg && (id === undefined || e.id === id);

/**
 * The worker processes of a runner now: its live child processes (read from
 * /proc) started in worker mode, each with its tube (from the worker.start
 * event of its pid) or null for the spare that waits for a tube.
 */
export function workerProcesses(run: Pick<Runner, "pid" | "events">): { pid: number; tube: string | null }[] {
  const tubeOf = new Map<number, string>();
  for (const e of run.events) if (e.type === "worker.start") tubeOf.set(e.pid!, e.tube!);
  const out: { pid: number; tube: string | null }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== run.pid || fields[0] === "Z") continue;
      if (!readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes("worker")) continue;
      out.push({ pid: Number(d), tube: tubeOf.get(Number(d)) ?? null });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
