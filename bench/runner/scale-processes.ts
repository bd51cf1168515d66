/**
 * bench/runner/scale.ts's processes: `beanrun run` and `beanrun serve` of the
 * measured checkout (BEANRUN_ROOT) started as children whose JSON event
 * lines are collected, and the RSS and CPU of a process tree read from
 * /proc. Kept apart from the driver so that each file stays under the
 * house's 400 lines.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseEventLine, type Timed } from "../../runtime/runner/events.ts";
import { children, tail, tempDirs } from "../lib/processes.ts";

/** The checkout whose runner is measured (BEANRUN_ROOT=/other/checkout compares another version with this bench). */
export const ROOT = resolve(process.env.BEANRUN_ROOT ?? resolve(import.meta.dir, "../.."));
const BUN = process.execPath;

export type Ev = Timed & Record<string, unknown>;

export interface Run {
  proc: Bun.Subprocess;
  port: number;
  events: Ev[];
  waitFor(pred: (e: Ev) => boolean, ms?: number): Promise<Ev>;
  stop(): Promise<void>;
}

export async function startRun(jobs: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = Bun.spawn(
    [
      BUN,
      join(ROOT, "runtime/cli.ts"),
      "run",
      "--jobs",
      jobs,
      ...(args.includes("--connect") ? [] : ["-p", "0"]),
      "--log-format",
      "json",
      "--log-level",
      "debug",
      ...args,
    ],
    {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    },
  );
  children.add(proc);
  const events: Ev[] = [];
  let wake: (() => void)[] = [];
  void (async () => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const e = parseEventLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (e) events.push(e as Ev);
      }
      const w = wake;
      wake = [];
      for (const f of w) f();
    }
  })();
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /listening on [^\s]+:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  const waitFor = async (pred: (e: Ev) => boolean, ms = 30_000): Promise<Ev> => {
    const end = Date.now() + ms;
    let from = 0;
    for (;;) {
      for (; from < events.length; from++) if (pred(events[from]!)) return events[from]!;
      if (Date.now() > end || proc.exitCode !== null) throw new Error(`timed out waiting for an event; stderr: ${err.text()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        wake.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  // With --log-format json the listening line is JSON on stdout; runner.ready names the server either way.
  const ready = await waitFor((e) => e.type === "runner.ready");
  port ||= Number(String(ready.server).split(":").pop());
  return {
    proc,
    port,
    events,
    waitFor,
    stop: async () => {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(t);
      children.delete(proc);
    },
  };
}

/** RSS of a process and all its descendants, MiB. */
export function treeRss(pid: number): number {
  let kb = 0;
  const walk = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) kb += Number(m[1]);
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) walk(Number(c));
    } catch {
      // gone
    }
  };
  walk(pid);
  return kb / 1024;
}

/** CPU seconds used so far by a process and its descendants, the exited ones it reaped included. */
export function treeCpu(pid: number, selfOnly = false): number {
  const hz = 100;
  let ticks = 0;
  const walk = (p: number, top: boolean): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime stime, and for the top process cutime cstime (its reaped children).
      ticks += Number(f[11]) + Number(f[12]) + (top && !selfOnly ? Number(f[13]) + Number(f[14]) : 0);
      if (selfOnly) return;
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) walk(Number(c), false);
    } catch {
      // gone
    }
  };
  walk(pid, true);
  return ticks / hz;
}

export function jobsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-scale-bench-"));
  tempDirs.add(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.ts`), text);
  return dir;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A separate server for --connect: `beanrun serve` of the measured checkout. */
export async function startServe(): Promise<{ port: number; stop(): Promise<void> }> {
  const proc = Bun.spawn([BUN, join(ROOT, "runtime/cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0"], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(proc);
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /listening on [^\s]+:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  for (const end = Date.now() + 30_000; !port; await sleep(20))
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`serve did not start: ${err.text()}`);
  return {
    port,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      children.delete(proc);
    },
  };
}
