#!/usr/bin/env bun
import { mkdtempSync, readFileSync } from "node:fs";
/**
 * Timer lateness under load: how late delayed jobs become ready and TTRs
 * expire while producers put delayed jobs at a steady rate, in memory and
 * with `-b DIR -f 0` (every put fsynced before its reply), beanrun and the
 * real beanstalkd side by side in one run. See bench/README.md.
 *
 *   bun bench/timers.ts [--rate 10000] [--secs 10] [--servers beanrun,beanstalkd] [--modes mem,f0] [--workers 400]
 *
 * - Delayed: producers (8 connections, paced every 10 ms) put jobs with a
 *   delay of 1-5 s whose body holds the moment they are due (client clock).
 *   --workers connections `reserve`, and on each job pipeline `delete` +
 *   `reserve`; lateness = arrival of RESERVED - due. With -f 0 a worker's
 *   next job waits behind its DELETED, which waits for its fsync, so one
 *   worker takes at most one job per fsync: with too few workers the
 *   lateness measures the workers, not the timers (at 10k/s and 5 ms
 *   fsyncs, 50 workers are exactly enough). The default is 400, and the
 *   largest ready backlog seen (`stats` every 100 ms) is printed: a backlog
 *   of thousands means jobs were due and ready but no worker was free.
 * - What is late, and whose fault: beanrun runs with bench/lib/loop-lag.ts
 *   preloaded, which reports how late a 10 ms timer fired inside the server
 *   (its event loop's own lag), and the client measures its own loop lag
 *   the same way: a client that is starved of CPU reads RESERVED late and
 *   counts that as lateness. The server's CPU share over the run is printed.
 * - TTR: 100 jobs with TTR 1 s in tube `ttr` cycle through 200 holder
 *   connections that reserve one and then stay silent; when it times out
 *   the job goes to a waiting holder. Lateness = arrival at the next holder -
 *   (arrival at the previous one + 1 s).
 *
 * The server runs on cpu 0 (taskset); run the client on cpu 1 with
 * `taskset -c 1 bun bench/timers.ts`, like bench/run.ts's generator. Figures
 * on a shared machine are noisy: compare the rows of one run.
 */
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { children, cleanup, cleanupOnSignals, spawnListening, tail, tempDirs } from "./lib/processes.ts";

/** The checkout whose server is measured (BEANRUN_ROOT=/other/checkout compares another version with this client). */
const ROOT = resolve(process.env.BEANRUN_ROOT ?? resolve(import.meta.dir, ".."));
const BEANSTALKD = process.env.BEANSTALKD ?? "/usr/bin/beanstalkd";
const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "10000" },
    secs: { type: "string", default: "10" },
    servers: { type: "string", default: "beanrun,beanstalkd" },
    modes: { type: "string", default: "mem,f0" },
    workers: { type: "string", default: "400" },
  },
});
const RATE = Number(args.rate);
const SECS = Number(args.secs);
const PRODUCERS = 8;
const WORKERS = Number(args.workers);
const TTR_JOBS = 100;
const HOLDERS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  port: number;
  proc: Bun.Subprocess;
  stderr(): string;
}

async function start(name: string, flags: string[]): Promise<Server> {
  if (name === "beanstalkd") {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const proc = Bun.spawn(["taskset", "-c", "0", BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), ...flags], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    children.add(proc);
    const err = tail(proc.stderr as ReadableStream<Uint8Array>);
    for (let i = 0; i < 250; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
        s.on("error", () => r(false));
      });
      if (ok) return { port, proc, stderr: err.text };
      await sleep(20);
    }
    throw new Error(`beanstalkd did not start: ${err.text()}`);
  }
  const preload = join(import.meta.dir, "lib", "loop-lag.ts");
  const argv = [
    "taskset",
    "-c",
    "0",
    process.execPath,
    "--preload",
    preload,
    join(ROOT, "runtime/cli.ts"),
    "serve",
    "-l",
    "127.0.0.1",
    "-p",
    "0",
    ...flags,
  ];
  const s = await spawnListening(argv, ROOT);
  return { port: s.port, proc: s.proc, stderr: s.stderr };
}

/** A connection that parses replies and hands each (line, body) to `onReply`. */
function connect(port: number, onReply: (line: string, body: string | null) => void): Promise<net.Socket> {
  return new Promise((resolveConn, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolveConn(s));
    s.setNoDelay(true);
    s.on("error", reject);
    let buf: Buffer = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const nl = buf.indexOf("\r\n");
        if (nl < 0) break;
        const line = buf.toString("latin1", 0, nl);
        let end = nl + 2;
        let body: string | null = null;
        if (line.startsWith("RESERVED ")) {
          const n = Number(line.split(" ")[2]);
          if (buf.length < end + n + 2) break;
          body = buf.toString("latin1", end, end + n);
          end += n + 2;
        }
        buf = buf.subarray(end);
        onReply(line, body);
      }
    });
  });
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Result {
  delayed: number[];
  ttr: number[];
  puts: number;
  /** Most ready jobs seen at once (stats every 100 ms): above a few hundred, workers, not timers, set the lateness. */
  backlog: number;
  /** This client's own event-loop lag (a 10 ms interval's overshoot), ms: a starved client reads replies late. */
  clientLag: number[];
}

/** Samples `stats` every 100 ms; returns the largest current-jobs-ready seen, once `done()` is called. */
async function monitor(port: number): Promise<{ done(): number }> {
  let max = 0;
  let pending = false;
  const s = await connect(port, () => {});
  s.removeAllListeners("data");
  s.on("data", (d: Buffer) => {
    const m = /current-jobs-ready: (\d+)/.exec(d.toString("latin1"));
    if (m) max = Math.max(max, Number(m[1]));
    pending = false;
  });
  const t = setInterval(() => {
    if (pending) return;
    pending = true;
    s.write("stats\r\n");
  }, 100);
  return {
    done() {
      clearInterval(t);
      s.destroy();
      return max;
    },
  };
}

async function measure(port: number): Promise<Result> {
  const delayed: number[] = [];
  const ttr: number[] = [];
  let puts = 0;
  let stop = false;
  const socks: net.Socket[] = [];
  // Workers: reserve, measure, reserve again.
  for (let i = 0; i < WORKERS; i++) {
    const s: net.Socket = await connect(port, (line, body) => {
      if (body !== null) {
        delayed.push(performance.now() - Number(body.slice(2)));
        if (!stop) s.write(`delete ${line.split(" ")[1]}\r\nreserve\r\n`);
      } else if (line !== "DELETED") throw new Error(`worker got ${line}`);
    });
    s.write("reserve\r\n");
    socks.push(s);
  }
  // TTR holders: reserve from `ttr`, keep it silently, reserve again after it expired.
  const seen = new Map<string, number>();
  for (let i = 0; i < HOLDERS; i++) {
    const s: net.Socket = await connect(port, (line, body) => {
      if (body === null) return;
      const id = line.split(" ")[1]!;
      const now = performance.now();
      const prev = seen.get(id);
      if (prev !== undefined) ttr.push(now - (prev + 1000));
      seen.set(id, now);
      setTimeout(() => !stop && s.write("reserve\r\n"), 1700);
    });
    s.write("watch ttr\r\nignore default\r\nreserve\r\n");
    socks.push(s);
  }
  const mon = await monitor(port);
  const clientLag: number[] = [];
  let last = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    clientLag.push(now - last - 10);
    last = now;
  }, 10);
  const seed = await connect(port, () => {});
  socks.push(seed);
  seed.write("use ttr\r\n");
  for (let i = 0; i < TTR_JOBS; i++) seed.write("put 0 0 1 1\r\nt\r\n");
  // Producers: RATE puts/s of delayed jobs, paced every 10 ms.
  const prods: net.Socket[] = [];
  for (let i = 0; i < PRODUCERS; i++) {
    const s = await connect(port, (line) => {
      if (line.startsWith("INSERTED")) puts++;
      else throw new Error(`producer got ${line}`);
    });
    prods.push(s);
    socks.push(s);
  }
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < SECS * 1000) {
    const want = Math.floor(((performance.now() - t0) / 1000) * RATE);
    const chunks: string[][] = prods.map(() => []);
    for (; sent < want; sent++) {
      const delay = 1 + (sent % 5);
      const body = `d ${(performance.now() + delay * 1000).toFixed(1)}`;
      chunks[sent % PRODUCERS]!.push(`put 1024 ${delay} 60 ${body.length}\r\n${body}\r\n`);
    }
    chunks.forEach((c, i) => c.length && prods[i]!.write(c.join("")));
    await sleep(10);
  }
  // Let the last delays (5 s) and a few TTR rounds run out.
  await sleep(6500);
  stop = true;
  clearInterval(lagTimer);
  const backlog = mon.done();
  for (const s of socks) s.destroy();
  return { delayed, ttr, puts, backlog, clientLag };
}

function row(name: string, r: Result): string {
  const f = (xs: number[]) =>
    `${pct(xs, 50).toFixed(1).padStart(7)} ${pct(xs, 99).toFixed(1).padStart(8)} ${Math.max(...xs)
      .toFixed(1)
      .padStart(8)} ${String(xs.filter((x) => x > 100).length).padStart(6)} ${String(xs.length).padStart(7)}`;
  return (
    `${name.padEnd(24)} delayed ${f(r.delayed)}\n${"".padEnd(24)} ttr     ${f(r.ttr)}\n` +
    `${"".padEnd(24)} ready backlog max ${r.backlog}; client loop lag p99 ${pct(r.clientLag, 99).toFixed(1)} ms, max ${Math.max(...r.clientLag).toFixed(1)} ms`
  );
}

cleanupOnSignals("bench/timers");
const tmp = mkdtempSync(join(tmpdir(), "beanrun-timers-"));
tempDirs.add(tmp);
console.log(
  `bench/timers: ${RATE} delayed puts/s (delay 1-5 s) for ${SECS} s, ${WORKERS} workers; ${TTR_JOBS} TTR-1s jobs over ${HOLDERS} holders`,
);
console.log(`${"server".padEnd(24)} kind    p50 ms   p99 ms   max ms  >100ms   count`);
try {
  for (const mode of args.modes!.split(",")) {
    for (const name of args.servers!.split(",")) {
      if (name === "beanstalkd" && !(await Bun.file(BEANSTALKD).exists())) continue;
      const flags = mode === "f0" ? ["-b", mkdtempSync(join(tmp, `${name}-`)), "-f", "0"] : [];
      const s = await start(name, flags);
      const cpu0 = cpuSeconds(s.proc.pid);
      const t0 = performance.now();
      const r = await measure(s.port);
      const cpu = (cpuSeconds(s.proc.pid) - cpu0) / ((performance.now() - t0) / 1000);
      s.proc.kill("SIGTERM");
      const killer = setTimeout(() => s.proc.kill("SIGKILL"), 3000);
      await s.proc.exited;
      clearTimeout(killer);
      children.delete(s.proc);
      console.log(row(`${name} ${mode === "f0" ? "-b -f 0" : "in memory"}`, r));
      console.log(`${"".padEnd(24)} server CPU ${(cpu * 100).toFixed(0)}% of a core over the run`);
      const lag = /loop-lag (.*)/.exec(s.stderr())?.[1];
      if (lag) console.log(`${"".padEnd(24)} server loop lag (10 ms timer, ms): ${lag}`);
      if (r.puts < RATE * SECS * 0.95) console.log(`${"".padEnd(24)} note: only ${r.puts} of ${RATE * SECS} puts were acknowledged`);
    }
  }
} finally {
  cleanup();
}
