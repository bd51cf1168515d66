/**
 * Real servers for tests: the reference beanstalkd and ours (beanrun), each
 * in its own process on a free loopback port.
 *
 * - startReference(args): `beanstalkd -l 127.0.0.1 -p <free port> ...args`,
 *   ready once it accepts a TCP connection.
 * - startOurs(args): `bun runtime/cli.ts serve -l 127.0.0.1 -p 0 ...args`,
 *   ready once it prints `beanrun: listening on 127.0.0.1:<port>` on stderr;
 *   startDeno(args) the same under Deno (runtime/cli-deno.ts).
 *   launchOurs(args) is the same start for a server that may refuse to
 *   start: it resolves with the server, or with the exit code and stderr of
 *   a process that ended before listening. launchWithLog(dir, args) launches
 *   ours with a write-ahead log in dir (-b); a test that kills it (kill())
 *   and launches it again on the same dir sees what a crash leaves.
 * - startSubject(args): the server the differential tests compare against
 *   the reference: ours with `--compat 1.12`, or, with
 *   BEANRUN_DIFF_SUBJECT=reference, a second real beanstalkd (the harness
 *   self-check: every differential test must then pass trivially), or, with
 *   BEANRUN_DIFF_SUBJECT=ours-1.13, ours in its default 1.13 wire format (a
 *   negative control: scenarios that show YAML names must then fail).
 *   With BEANRUN_DIFF_STORE=postgres://... (an admin URL), ours keeps its
 *   jobs in PostgreSQL, a fresh database per server
 *   (test/postgres/differential.test.ts runs the scenarios that way).
 *
 * Extra args pass through to both, e.g. maxJobSize(10) = ["-z", "10"].
 * Every process started here is SIGKILLed when the test process exits, even
 * if a test forgot to stop it.
 */

import { existsSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;
/** Deno, from the dev dependency. */
export const DENO = join(ROOT, "node_modules/.bin/deno");
/** Path of the reference beanstalkd, or null when it is not installed. */
export const BEANSTALKD: string | null = Bun.which("beanstalkd") ?? (existsSync("/usr/bin/beanstalkd") ? "/usr/bin/beanstalkd" : null);

/** What the differential tests compare with the reference: "ours" (default) or "reference". */
export const SUBJECT: "ours" | "reference" | "ours-1.13" =
  process.env.BEANRUN_DIFF_SUBJECT === "reference" ? "reference" : process.env.BEANRUN_DIFF_SUBJECT === "ours-1.13" ? "ours-1.13" : "ours";

export interface ServerProcess {
  port: number;
  pid: number;
  /**
   * SIGTERM, then SIGKILL if it has not exited within `graceMs` (default 2 s;
   * 30 s for a server with a log, which syncs it first); resolves with its
   * exit code (null after a signal) once it is gone.
   */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL, no cleanup (crash tests). */
  kill(): Promise<void>;
}

export const maxJobSize = (bytes: number): string[] => ["-z", String(bytes)];

const live = new Set<ReturnType<typeof Bun.spawn>>();
process.on("exit", () => {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {}
  }
});

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

/**
 * One complete probe connection: connect, send an empty line (answered with
 * UNKNOWN_COMMAND, which no stats counter records), read the reply, half-close
 * and wait until the server has closed its side. Afterwards the server has
 * certainly counted exactly one connection (total-connections) and has
 * certainly forgotten it again (current-connections), whatever the timing:
 * a bare connect-and-drop probe raced the server's accept().
 */
function probe(port: number, ms = 2000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let answered = false;
    const s = net.connect(port, "127.0.0.1", () => s.write("\r\n"));
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.on("data", (d: Buffer) => {
      if (!answered && d.includes("\r\n")) {
        answered = true;
        s.end();
      }
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      resolve(answered);
    });
  });
}

/** Resolves once the server answers a probe (see probe()). */
async function waitForPort(port: number, proc: { exitCode: number | null }, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    if (await probe(port)) return;
    await Bun.sleep(20);
  }
  throw new Error(`nothing answers on ${port} after ${ms} ms`);
}

function wrap(proc: ReturnType<typeof Bun.spawn>, port: number, defaultGraceMs = 2000): ServerProcess {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return {
    port,
    pid: proc.pid,
    stop: async (graceMs = defaultGraceMs) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await proc.exited;
      clearTimeout(t);
      return proc.exitCode;
    },
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

export async function startReference(args: string[] = []): Promise<ServerProcess> {
  if (!BEANSTALKD) throw new Error("beanstalkd is not installed");
  // A free port can be taken by someone else between probe and bind: retry.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = Bun.spawn([BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), ...args], {
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await waitForPort(port, proc);
      return wrap(proc, port);
    } catch (e) {
      proc.kill("SIGKILL");
      await proc.exited;
      if (attempt >= 2) throw e;
    }
  }
}

export interface LaunchOptions {
  /** The command before the entry point (default: this Bun). */
  runtime?: string[];
  /** The entry point (default runtime/cli.ts). */
  entry?: string;
  /** How long it may take to listen (default 30 s). */
  readyMs?: number;
  /** stop()'s default grace before SIGKILL (default 2 s). */
  stopGraceMs?: number;
}

/** Ours, started: the process and everything it has written to stderr so far. */
export type OurServer = ServerProcess & { stderr: () => string };

/** What launchOurs gives: the server once it listens, or how the process ended before it did. */
export type Launch =
  | { server: OurServer; exitCode?: undefined; stderr: string }
  | { server?: undefined; exitCode: number | null; stderr: string };

/**
 * Starts `beanrun serve`; resolves once it prints its listening line (with
 * the server and stderr up to then), or once it exits before that (with its
 * exit code and stderr: a server that refuses to start). A process that
 * does neither within `readyMs` is killed and the launch throws.
 */
export async function launchOurs(args: string[] = [], opts: LaunchOptions = {}): Promise<Launch> {
  const cmd = [...(opts.runtime ?? [BUN]), join(ROOT, opts.entry ?? "runtime/cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...args];
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  const server = wrap(proc, 0, opts.stopGraceMs);
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  let port = 0;
  const readyMs = opts.readyMs ?? 30_000;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    proc.kill("SIGKILL");
  }, readyMs);
  try {
    while (!port) {
      const { value, done } = await reader.read();
      if (done) {
        if (late) throw new Error(`beanrun serve did not listen within ${readyMs} ms: ${cmd.join(" ")}\n${text}`);
        await proc.exited;
        return { exitCode: proc.exitCode, stderr: text };
      }
      text += decoder.decode(value, { stream: true });
      const m = /beanrun: listening on [^\s]+:(\d+)/.exec(text);
      if (m) port = Number(m[1]);
    }
  } finally {
    clearTimeout(timer);
  }
  // Probe once, as for the reference, so both have counted the same connections.
  await waitForPort(port, proc);
  // Keep draining stderr so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { server: { ...server, port, stderr: () => text }, stderr: text };
}

/** launchOurs for a server that must start: throws, with its stderr, if it exits first. */
export async function startOurs(args: string[] = [], opts: LaunchOptions = {}): Promise<OurServer> {
  const r = await launchOurs(args, opts);
  if (!r.server) throw new Error(`beanrun serve exited (${r.exitCode}) before listening: serve ${args.join(" ")}\n${r.stderr}`);
  return r.server;
}

/**
 * Ours with its write-ahead log in `dir` (`-b dir`, then `args`: by default
 * -f 0, every record synced before its reply); stop() gives it 30 s to
 * write and sync its log before SIGKILL.
 */
export function launchWithLog(dir: string, args: string[] = ["-f", "0"], opts: LaunchOptions = {}): Promise<Launch> {
  return launchOurs(["-b", dir, ...args], { stopGraceMs: 30_000, ...opts });
}

/** `beanrun serve` under Deno (its node:net transport and Deno.serve). */
export function startDeno(args: string[] = []): Promise<OurServer> {
  return startOurs(args, { runtime: [DENO, "run", "-A"], entry: "runtime/cli-deno.ts", readyMs: 60_000 });
}

/**
 * Fresh servers, started one call ahead: each call returns a server started
 * earlier (in the background, while the previous test ran) and starts the
 * next one with the same arguments. The differential suite starts a fresh
 * reference and subject for every scenario, and their start-up (a Bun
 * process loading the server) no longer adds to each scenario's time. A
 * file that uses it stops the spares in afterAll (stopSpares); any left are
 * killed with the test process.
 */
const spares = new Map<string, Promise<ServerProcess>>();
function ahead(key: string, start: () => Promise<ServerProcess>): Promise<ServerProcess> {
  const ready = spares.get(key);
  const next = start();
  next.catch(() => {});
  spares.set(key, next);
  return ready ?? start();
}

/** Stops the servers started ahead (call in afterAll of a file that uses startPair). */
export async function stopSpares(): Promise<void> {
  const all = [...spares.values()];
  spares.clear();
  await Promise.all(
    all.map((p) =>
      p.then(
        (s) => s.stop(),
        () => {},
      ),
    ),
  );
}

/** A fresh reference and a fresh subject (see SUBJECT), each started one call ahead. */
export function startPair(args: string[] = []): Promise<[ServerProcess, ServerProcess]> {
  const key = JSON.stringify(args);
  return Promise.all([ahead(`ref ${key}`, () => startReference(args)), ahead(`sub ${key}`, () => startSubject(args))]);
}

/** The server compared against the reference (see SUBJECT). */
export async function startSubject(args: string[] = []): Promise<ServerProcess> {
  if (SUBJECT === "reference") return startReference(args);
  const store = process.env.BEANRUN_DIFF_STORE;
  const storeArgs = store ? ["--store", await (await import("../postgres/cluster.ts")).freshDatabase(store)] : [];
  // "ours-1.13" is a negative control: without --compat 1.12 the YAML quoting
  // and negative reserve timeouts of 1.13 must make several scenarios fail.
  return startOurs(SUBJECT === "ours-1.13" ? [...storeArgs, ...args] : ["--compat", "1.12", ...storeArgs, ...args]);
}
