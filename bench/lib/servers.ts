/**
 * What bench/run.ts measures with: the servers (beanstalkd, or another
 * checkout of beanrun, and this one), each started fresh and pinned to the
 * server's core; the C load generator, built and run on its own core; and the
 * /proc and protocol helpers that sample them. Kept apart from the driver so
 * that the file stays under the house's 400 lines (issue 8).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Options } from "./options.ts";
import { children, StartFailure, spawnListening, tail } from "./processes.ts";

export const BENCH = resolve(import.meta.dir, "..");
export const ROOT = resolve(BENCH, "..");
const BUN = process.execPath;
export const BEANSTALKD = process.env.BEANSTALKD ?? "/usr/bin/beanstalkd";
const LOADGEN = join(BENCH, ".build", "loadgen");

// ---------------------------------------------------------------- helpers

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/** Sends one command on a fresh connection and returns the first complete reply (YAML replies included). */
export async function ask(port: number, cmd: string, timeoutMs = 5000): Promise<string> {
  let buf = "";
  return await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no reply to ${cmd.trim()}`)), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(cmd);
        },
        data(s, d) {
          buf += d.toString("latin1");
          const ok = /^OK (\d+)\r\n/.exec(buf);
          if ((ok && buf.length >= ok[0].length + Number(ok[1]) + 2) || (!ok && buf.includes("\r\n") && !buf.startsWith("OK"))) {
            clearTimeout(timer);
            s.end();
            res(buf);
          }
        },
        error(_s, e) {
          clearTimeout(timer);
          rej(e);
        },
      },
    }).catch((e) => {
      clearTimeout(timer);
      rej(e);
    });
  });
}

// ---------------------------------------------------------------- servers

export type ServerName = "beanstalkd" | "beanrun";
export const SERVERS: ServerName[] = ["beanstalkd", "beanrun"];

export interface Server {
  name: ServerName;
  proc: Bun.Subprocess;
  port: number;
  stderr: () => string;
}

export class Skip extends Error {}
export async function startServer(name: ServerName, opts: Options, extra: string[]): Promise<Server> {
  const pin = ["taskset", "-c", opts.serverCpu];
  if (name === "beanstalkd" && !opts.reference) {
    const port = await freePort();
    const proc = Bun.spawn([...pin, BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), ...extra], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    children.add(proc);
    const err = tail(proc.stderr as ReadableStream<Uint8Array>);
    const deadline = Date.now() + 5000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`beanstalkd exited at start: ${err.text().trim()}`);
      try {
        await ask(port, "list-tube-used\r\n", 500);
        return { name, proc, port, stderr: err.text };
      } catch {}
      if (Date.now() > deadline) throw new Error("beanstalkd did not start listening within 5 s");
      await sleep(20);
    }
  }
  const root = name === "beanstalkd" ? opts.reference : ROOT;
  const argv = [...pin, BUN, join(root, "runtime", "cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...extra];
  try {
    const s = await spawnListening(argv, root);
    return { name, ...s };
  } catch (e) {
    if (e instanceof StartFailure && extra.includes("-b"))
      throw new Skip(`beanrun rejected ${extra.join(" ")}: ${e.said || `exit ${e.code}`}`);
    throw e;
  }
}

export async function stopServer(s: Server): Promise<void> {
  s.proc.kill("SIGTERM");
  const t = setTimeout(() => s.proc.kill("SIGKILL"), 2000);
  await s.proc.exited;
  clearTimeout(t);
  children.delete(s.proc);
}
// ---------------------------------------------------------------- load generator
export async function buildLoadgen(): Promise<void> {
  const src = join(BENCH, "loadgen.c");
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(src).mtimeMs) return;
  mkdirSync(join(BENCH, ".build"), { recursive: true });
  const p = Bun.spawnSync(["cc", "-O2", "-Wall", "-o", LOADGEN, src], { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error("building bench/loadgen.c failed (is a C compiler installed?)");
}
export interface GenResult {
  mode: string;
  ops: number;
  secs: number;
  rate: number;
  gen_cpu: number;
  p50_us?: number;
  p99_us?: number;
  p999_us?: number;
  complete?: boolean;
}
export async function loadgen(opts: Options, args: string[], timeoutS: number): Promise<GenResult> {
  const proc = Bun.spawn(["taskset", "-c", opts.genCpu, LOADGEN, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutS * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  children.delete(proc);
  if (proc.exitCode !== 0) {
    throw new Error(`loadgen ${args.join(" ")} failed (exit ${proc.exitCode ?? proc.signalCode}): ${err.trim() || out.trim()}`);
  }
  return JSON.parse(out.trim().split("\n").pop()!) as GenResult;
}
