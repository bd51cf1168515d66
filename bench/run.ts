#!/usr/bin/env bun
/**
 * Side-by-side benchmark: the real beanstalkd and beanrun, alternating, in one
 * run. See bench/README.md. Usage:
 *
 *   bun bench/run.ts [--quick] [--only GROUPS|IDS] [--rounds N] [--secs S]
 *                    [--warmup S] [--jobs N] [--fill-rounds N] [--max-secs S]
 *                    [--server-cpu N] [--gen-cpu N] [--list] [--reference DIR]
 *
 * Every server is started fresh for each sample, pinned with taskset to
 * --server-cpu (default 0); the C load generator runs on --gen-cpu (default 1).
 * Results go to bench/results/<timestamp>.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs as parseFlags } from "node:util";
import { jitSeconds } from "./lib/jit.ts";
import { children, cleanup, cleanupOnSignals, tail, tempDirs } from "./lib/processes.ts";

const BENCH = import.meta.dir;
const ROOT = resolve(BENCH, "..");
const BUN = process.execPath;
const BEANSTALKD = process.env.BEANSTALKD ?? "/usr/bin/beanstalkd";
const LOADGEN = join(BENCH, ".build", "loadgen");

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  only: string[];
  rounds: number;
  secs: number;
  warmup: number;
  jobs: number;
  fillRounds: number;
  maxSecs: number;
  serverCpu: string;
  genCpu: string;
  list: boolean;
  /** Another checkout of beanrun that takes beanstalkd's place as the reference (before/after comparisons). */
  reference: string;
  /** Most seconds of un-measured load while the server's JIT compiler threads are still busy. */
  settleMax: number;
}

/** Defaults, then what --quick changes when the option itself is not given. */
const DEFAULTS = {
  rounds: 3,
  secs: 2,
  warmup: 0.5,
  jobs: 1_000_000,
  fillRounds: 2,
  maxSecs: 40,
  settleMax: 10,
};
const QUICK: typeof DEFAULTS = { rounds: 1, secs: 0.6, warmup: 0.25, jobs: 100_000, fillRounds: 1, maxSecs: 6, settleMax: 4 };

function parseArgs(argv: string[]): Options {
  const v = (() => {
    try {
      return parseFlags({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          quick: { type: "boolean" },
          only: { type: "string" },
          rounds: { type: "string" },
          secs: { type: "string" },
          warmup: { type: "string" },
          jobs: { type: "string" },
          "fill-rounds": { type: "string" },
          "max-secs": { type: "string" },
          "server-cpu": { type: "string" },
          "gen-cpu": { type: "string" },
          list: { type: "boolean" },
          reference: { type: "string" },
          "settle-max": { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      }).values;
    } catch (e) {
      usage((e as Error).message);
    }
  })();
  if (v.help) usage();
  const base = v.quick ? QUICK : DEFAULTS;
  const positive = (flag: string, x: string | undefined, dflt: number): number => {
    if (x === undefined) return dflt;
    const n = Number(x);
    if (!Number.isFinite(n) || n <= 0) usage(`--${flag} needs a positive number`);
    return n;
  };
  const any = (x: string | undefined, dflt: number): number => (x === undefined ? dflt : Number(x));
  return {
    quick: v.quick ?? false,
    only: (v.only ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
    rounds: Math.round(positive("rounds", v.rounds, base.rounds)),
    secs: positive("secs", v.secs, base.secs),
    warmup: any(v.warmup, base.warmup),
    jobs: Math.round(positive("jobs", v.jobs, base.jobs)),
    fillRounds: Math.round(positive("fill-rounds", v["fill-rounds"], base.fillRounds)),
    maxSecs: positive("max-secs", v["max-secs"], base.maxSecs),
    serverCpu: v["server-cpu"] ?? "0",
    genCpu: v["gen-cpu"] ?? "1",
    list: v.list ?? false,
    reference: v.reference === undefined ? "" : resolve(v.reference),
    settleMax: any(v["settle-max"], base.settleMax),
  };
}

function usage(err?: string): never {
  if (err) console.error(`bench: ${err}`);
  console.error(`usage: bun bench/run.ts [--quick] [--only GROUPS|IDS] [--rounds N] [--secs S] [--warmup S]
                        [--jobs N] [--fill-rounds N] [--max-secs S] [--server-cpu N] [--gen-cpu N] [--list]
                        [--reference DIR] [--settle-max S]
groups: cycle, pipe, fill, wal (or workload ids / id prefixes; --list shows them)`);
  process.exit(err ? 2 : 0);
}

// ---------------------------------------------------------------- cleanup

cleanupOnSignals("bench");
process.on("exit", cleanup);

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

function rssMiB(pid: number): number {
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
async function ask(port: number, cmd: string, timeoutMs = 5000): Promise<string> {
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

type ServerName = "beanstalkd" | "beanrun";
const SERVERS: ServerName[] = ["beanstalkd", "beanrun"];

interface Server {
  name: ServerName;
  proc: Bun.Subprocess;
  port: number;
  stderr: () => string;
}

class Skip extends Error {}

async function startServer(name: ServerName, opts: Options, extra: string[]): Promise<Server> {
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
  const proc = Bun.spawn([...pin, BUN, join(root, "runtime", "cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...extra], {
    cwd: root,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(proc);
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /beanrun: listening on 127\.0\.0\.1:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  const deadline = Date.now() + 15000;
  while (!port) {
    if (proc.exitCode !== null) {
      await sleep(50);
      const msg = err.text().trim().split("\n").slice(0, 3).join(" / ");
      children.delete(proc);
      if (extra.includes("-b")) throw new Skip(`beanrun rejected ${extra.join(" ")}: ${msg || `exit ${proc.exitCode}`}`);
      throw new Error(`beanrun exited at start (code ${proc.exitCode}): ${msg}`);
    }
    if (Date.now() > deadline) throw new Error("beanrun did not print its listening line within 15 s");
    await sleep(10);
  }
  return { name, proc, port, stderr: err.text };
}

async function stopServer(s: Server): Promise<void> {
  s.proc.kill("SIGTERM");
  const t = setTimeout(() => s.proc.kill("SIGKILL"), 2000);
  await s.proc.exited;
  clearTimeout(t);
  children.delete(s.proc);
}

// ---------------------------------------------------------------- load generator

async function buildLoadgen(): Promise<void> {
  const src = join(BENCH, "loadgen.c");
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(src).mtimeMs) return;
  mkdirSync(join(BENCH, ".build"), { recursive: true });
  const p = Bun.spawnSync(["cc", "-O2", "-Wall", "-o", LOADGEN, src], { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error("building bench/loadgen.c failed (is a C compiler installed?)");
}

interface GenResult {
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

async function loadgen(opts: Options, args: string[], timeoutS: number): Promise<GenResult> {
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

// ---------------------------------------------------------------- workloads

interface Metric {
  key: string; // e.g. "rate", "rss", "drain"
  label: string; // row label suffix
  unit: string;
  higherIsBetter: boolean;
}

interface Sample {
  values: Record<string, number>;
  gen_cpu: number[];
  server_cpu?: number;
  /** CPU seconds of the server's JIT threads inside the measured window, and the seconds of load spent waiting for them first. */
  jit_cpu?: number;
  settle_s?: number;
  p50_us?: number;
  p99_us?: number;
  p999_us?: number;
  notes?: string[];
  idleRss?: number;
}

interface Workload {
  id: string;
  group: string;
  title: string;
  metrics: Metric[];
  rounds: (o: Options) => number;
  serverArgs?: (dir: string) => string[];
  wal?: boolean;
  run: (s: Server, o: Options) => Promise<Sample>;
}

const RATE = (unit: string): Metric => ({ key: "rate", label: "", unit, higherIsBetter: true });
type Percentile = "p50" | "p99" | "p999";
const LATENCY = (p: Percentile): Metric => ({ key: p, label: `, ${p} cycle latency`, unit: "ms", higherIsBetter: false });

/**
 * Un-measured load until the server's JIT threads go quiet: Bun compiles hot
 * code on helper threads, pinned to the server's one core like the rest of
 * it, and in a fresh process that goes on for seconds (about 0.5 s of CPU on
 * this machine), which would otherwise land inside the measured window as
 * stolen time and tail latency. Chunks of 0.5 s of the same load, until two
 * chunks in a row cost the JIT threads at most one clock tick (10 ms) while
 * the rest of the server got at least 100 ms of CPU (on a busy machine a
 * starved JIT thread looks quiet too), or --settle-max seconds. beanstalkd
 * has no such threads: it gets two chunks, like every server.
 */
async function settle(s: Server, o: Options, args: string[]): Promise<number> {
  const t0 = performance.now();
  for (let quiet = 0; ; ) {
    const j0 = jitSeconds(s.proc.pid);
    const c0 = cpuSeconds(s.proc.pid);
    await loadgen(o, [args[0]!, String(s.port), ...args.slice(1), "-t", "0.5", "-w", "0"], 20);
    const secs = (performance.now() - t0) / 1000;
    const jit = jitSeconds(s.proc.pid) - j0;
    const rest = cpuSeconds(s.proc.pid) - c0 - jit;
    quiet = jit <= 0.01 && (rest >= 0.1 || !jitSeconds(s.proc.pid)) ? quiet + 1 : 0;
    if (quiet === 2 || secs >= o.settleMax) return secs;
  }
}

/** Runs a timed loadgen mode (after `settle`) and samples the server's CPU use around it. */
async function timed(s: Server, o: Options, args: string[]): Promise<Sample> {
  const settleS = await settle(s, o, args);
  const c0 = cpuSeconds(s.proc.pid),
    j0 = jitSeconds(s.proc.pid),
    t0 = performance.now();
  const r = await loadgen(
    o,
    [args[0]!, String(s.port), ...args.slice(1), "-t", String(o.secs), "-w", String(o.warmup)],
    o.secs + o.warmup + 20,
  );
  const serverCpu = (cpuSeconds(s.proc.pid) - c0) / ((performance.now() - t0) / 1000);
  const ms = (us: number | undefined) => (us === undefined ? NaN : us / 1000);
  return {
    values: { rate: r.rate, p50: ms(r.p50_us), p99: ms(r.p99_us), p999: ms(r.p999_us) },
    gen_cpu: [r.gen_cpu],
    server_cpu: serverCpu,
    jit_cpu: jitSeconds(s.proc.pid) - j0,
    settle_s: settleS,
    p50_us: r.p50_us,
    p99_us: r.p99_us,
    p999_us: r.p999_us,
  };
}

function cycleWorkload(conns: number, body: number, lat: Percentile[] = ["p99"]): Workload {
  const b = body >= 1024 ? `${body / 1024}KB` : `${body}B`;
  return {
    id: `cycle-${conns}c-${b}`,
    group: "cycle",
    title: `put>reserve>delete, ${conns} conn, ${b}`,
    metrics: [RATE("cycles/s"), ...lat.map(LATENCY)],
    rounds: (o) => o.rounds,
    run: (s, o) => timed(s, o, ["cycle", "-c", String(conns), "-s", String(body)]),
  };
}

function walWorkload(mode: "f0" | "f200" | "F", kind: "put" | "cycle", lat: Percentile[] = []): Workload {
  const flags = mode === "F" ? ["-F"] : ["-f", mode.slice(1)];
  return {
    id: `wal-${mode}-${kind}`,
    group: "wal",
    title: `-b ${flags.join(" ")}: ${kind === "put" ? "put" : "put>reserve>delete"}, 50 conn, 100B`,
    metrics: [RATE(kind === "put" ? "puts/s" : "cycles/s"), ...lat.map(LATENCY)],
    rounds: (o) => o.rounds,
    wal: true,
    serverArgs: (dir) => ["-b", dir, ...flags],
    run: (s, o) => timed(s, o, ["cycle", "-c", "50", "-s", "100", ...(kind === "put" ? ["-P"] : [])]),
  };
}

const WORKLOADS: Workload[] = [
  cycleWorkload(1, 100),
  cycleWorkload(50, 100, ["p50", "p99", "p999"]),
  cycleWorkload(200, 100),
  cycleWorkload(1, 10240),
  cycleWorkload(50, 10240),
  cycleWorkload(200, 10240),
  {
    id: "pipe-64",
    group: "pipe",
    title: "pipelined puts, 1 conn, 64 in flight, 100B",
    metrics: [RATE("puts/s")],
    rounds: (o) => o.rounds,
    run: (s, o) => timed(s, o, ["pipe", "-d", "64", "-s", "100"]),
  },
  {
    id: "fill-drain",
    group: "fill",
    title: "", // titles come from the metrics
    metrics: [
      { key: "fill", label: "fill N jobs (100B, 64 in flight)", unit: "puts/s", higherIsBetter: true },
      { key: "rss", label: "RSS with N ready 100B jobs", unit: "MiB", higherIsBetter: false },
      { key: "drain", label: "drain N jobs (reserve+delete, 64 in flight)", unit: "jobs/s", higherIsBetter: true },
    ],
    rounds: (o) => o.fillRounds,
    run: async (s, o) => {
      const rss0 = rssMiB(s.proc.pid);
      const lim = String(o.maxSecs);
      const f = await loadgen(o, ["fill", String(s.port), "-n", String(o.jobs), "-s", "100", "-d", "64", "-t", lim], o.maxSecs + 20);
      await sleep(500);
      const rss = rssMiB(s.proc.pid);
      const ready = Number(/current-jobs-ready: (\d+)/.exec(await ask(s.port, "stats-tube default\r\n"))?.[1]);
      const notes: string[] = [];
      if (f.complete) {
        if (ready !== o.jobs) throw new Error(`${s.name}: after the fill, current-jobs-ready is ${ready}, expected ${o.jobs}`);
      } else {
        notes.push(
          `${s.name}: fill stopped at the ${o.maxSecs}s limit after ${f.ops} of ${o.jobs} jobs (rate and RSS are for ${ready} jobs)`,
        );
      }
      const d = await loadgen(o, ["drain", String(s.port), "-n", String(ready), "-d", "64", "-t", lim], o.maxSecs + 20);
      if (d.complete) {
        const left = Number(/current-jobs-ready: (\d+)/.exec(await ask(s.port, "stats-tube default\r\n"))?.[1]);
        if (left !== 0) throw new Error(`${s.name}: after the drain, current-jobs-ready is ${left}, expected 0`);
      } else {
        notes.push(`${s.name}: drain stopped at the ${o.maxSecs}s limit after ${d.ops} of ${ready} jobs`);
      }
      return { values: { fill: f.rate, rss, drain: d.rate }, gen_cpu: [f.gen_cpu, d.gen_cpu], notes, idleRss: rss0 };
    },
  },
  walWorkload("f0", "put"),
  walWorkload("f0", "cycle", ["p50", "p99"]),
  walWorkload("f200", "put"),
  walWorkload("f200", "cycle"),
  walWorkload("F", "put"),
  walWorkload("F", "cycle"),
];

function selected(o: Options): Workload[] {
  if (!o.only.length) return WORKLOADS;
  const ws = WORKLOADS.filter((w) => o.only.some((k) => w.group === k || w.id === k || w.id.startsWith(k)));
  if (!ws.length) usage(`--only ${o.only.join(",")} matches no workload (try --list)`);
  return ws;
}

// ---------------------------------------------------------------- main

interface RowResult {
  workload: string;
  metric: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  beanstalkd: number[];
  beanrun: number[];
  median: { beanstalkd: number | null; beanrun: number | null };
  ratio: number | null;
  skipped?: string;
  notes: string[];
}

function fmt(v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return "-";
  if (unit === "MiB") return `${v.toFixed(0)} MiB`;
  if (unit === "ms") return v.toFixed(2);
  if (v >= 100_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}k`;
  return v.toFixed(0);
}

/** The reference column: beanstalkd, or with --reference the other checkout of beanrun. */
function refLabel(o: Options): string {
  if (!o.reference) return "beanstalkd";
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: o.reference }).stdout.toString().trim();
  return `beanrun@${git || o.reference}`;
}

/** The table's rows of one workload, one per metric, before any sample. */
function rowsOf(w: Workload, o: Options): RowResult[] {
  return w.metrics.map<RowResult>((m) => ({
    workload: w.id,
    metric: m.key,
    label: (w.title ? w.title + m.label : m.label)
      .replace("N jobs", `${o.jobs.toLocaleString("en")} jobs`)
      .replace("N ready", `${o.jobs.toLocaleString("en")} ready`),
    unit: m.unit,
    higherIsBetter: m.higherIsBetter,
    beanstalkd: [],
    beanrun: [],
    median: { beanstalkd: null, beanrun: null },
    ratio: null,
    notes: [],
  }));
}

/**
 * One sample of a workload on a fresh server (with -b, in a fresh directory
 * under tmpRoot, checked for log files afterwards); warns when the server
 * keeps using CPU once the load stopped. Throws Skip when beanrun cannot run it.
 */
async function runSample(w: Workload, name: ServerName, o: Options, tmpRoot: string, warnings: string[]): Promise<Sample> {
  let dir = "";
  let extra: string[] = [];
  if (w.serverArgs) {
    dir = mkdtempSync(join(tmpRoot, `${name}-`));
    extra = w.serverArgs(dir);
  }
  const s = await startServer(name, o, extra);
  let sample: Sample;
  try {
    sample = await w.run(s, o);
    // A server should go idle once the load stops.
    const c0 = cpuSeconds(s.proc.pid);
    await sleep(300);
    const idle = (cpuSeconds(s.proc.pid) - c0) / 0.3;
    if (idle > 0.3) {
      const msg = `${name} kept using ${(idle * 100).toFixed(0)}% CPU after the load stopped (${w.id})`;
      if (!warnings.includes(msg)) warnings.push(msg);
    }
  } catch (e) {
    const err = s.stderr().trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${w.id} on ${name}: ${(e as Error).message}${err ? ` [server stderr: ${err}]` : ""}`);
  } finally {
    await stopServer(s);
  }
  if (dir) {
    const files = readdirSync(dir).filter((f) => f !== "lock");
    const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    if (bytes === 0) (sample.notes ??= []).push(`${name} wrote no log files in -b DIR (is -b implemented?)`);
    rmSync(dir, { recursive: true, force: true });
  }
  return sample;
}

/** Medians and ratios of a workload's rows once its samples are in. */
function summarise(rows: RowResult[], skipOurs: string | undefined): void {
  for (const row of rows) {
    if (skipOurs) row.skipped = skipOurs;
    row.median.beanstalkd = row.beanstalkd.length ? median(row.beanstalkd) : null;
    row.median.beanrun = row.beanrun.length ? median(row.beanrun) : null;
    row.ratio = row.median.beanstalkd && row.median.beanrun !== null ? row.median.beanrun / row.median.beanstalkd : null;
    // Latency swings between samples for both servers alike: the median of each round's pair (ABBA) is the steadier ratio.
    if (row.unit === "ms" && row.beanrun.length === row.beanstalkd.length && row.beanrun.length > 0) {
      row.ratio = median(row.beanrun.map((v, i) => v / row.beanstalkd[i]!));
    }
  }
}

/** A workload's warnings (JIT inside the window, a saturated generator) and the end of its progress line. */
function reportWorkload(w: Workload, o: Options, samples: Record<string, unknown>[], warnings: string[]): void {
  const mine = samples.filter((x) => x.workload === w.id) as unknown as (Sample & { server: ServerName })[];
  const jitMax = Math.max(0, ...mine.map((x) => x.jit_cpu ?? 0));
  if (jitMax > 0.02 * o.secs)
    warnings.push(`${w.id}: JIT threads still used ${(jitMax * 1000).toFixed(0)} ms of CPU inside a measured window (raise --settle-max)`);
  const genMax = Math.max(...mine.flatMap((x) => x.gen_cpu));
  if (genMax > 0.85) warnings.push(`${w.id}: the load generator used ${(genMax * 100).toFixed(0)}% of its core: it may be the bottleneck`);
  const srv = (n: ServerName) => {
    const xs = mine
      .filter((x) => x.server === n)
      .map((x) => x.server_cpu)
      .filter((v): v is number => v !== undefined);
    return xs.length ? `${(median(xs) * 100).toFixed(0)}%` : "-";
  };
  process.stdout.write(
    ` gen cpu <= ${(genMax * 100).toFixed(0)}%; server cpu (median) ${refLabel(o)} ${srv("beanstalkd")}, beanrun ${srv("beanrun")}\n`,
  );
}

/** One workload: its rounds, ABBA, each server fresh per sample; rows and samples are appended. */
async function runWorkload(
  w: Workload,
  o: Options,
  tmpRoot: string,
  out: { rows: RowResult[]; samples: Record<string, unknown>[]; warnings: string[] },
): Promise<void> {
  const rowsFor = rowsOf(w, o);
  out.rows.push(...rowsFor);
  let skipOurs: string | undefined;
  const rounds = w.rounds(o);
  process.stdout.write(`  ${w.id.padEnd(18)}`);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? SERVERS : [...SERVERS].reverse(); // ABBA: cancels slow drift
    for (const name of order) {
      if (name === "beanrun" && skipOurs) continue;
      let sample: Sample;
      try {
        sample = await runSample(w, name, o, tmpRoot, out.warnings);
      } catch (e) {
        if (!(e instanceof Skip)) throw e;
        skipOurs = e.message;
        process.stdout.write(" [beanrun skipped]");
        continue;
      }
      for (const row of rowsFor) {
        row[name].push(sample.values[row.metric]!);
        for (const n of sample.notes ?? []) if (!row.notes.includes(n)) row.notes.push(n);
      }
      out.samples.push({ workload: w.id, round: r, server: name, ...sample });
      process.stdout.write(".");
    }
  }
  summarise(rowsFor, skipOurs);
  reportWorkload(w, o, out.samples, out.warnings);
}

/** The results table, then its notes and the run's warnings. */
function printTable(rows: RowResult[], o: Options, warnings: string[]): void {
  const head = ["workload", "unit", refLabel(o), "beanrun", "ratio"];
  const body = rows.map((r) => [
    r.label,
    r.unit,
    fmt(r.median.beanstalkd, r.unit),
    r.skipped ? "skipped" : fmt(r.median.beanrun, r.unit),
    r.ratio === null ? "-" : `${r.ratio.toFixed(2)}x${r.higherIsBetter ? "" : " (lower is better)"}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ");
  console.log("\n" + line(head));
  console.log(widths.map((n) => "-".repeat(n)).join("-|-"));
  for (const b of body) console.log(line(b));
  console.log(`\nmedians of the samples; ratio = beanrun / ${refLabel(o)} (for latencies: the median of each round's pair ratio).`);
  for (const r of rows) {
    if (r.skipped) console.log(`note: ${r.workload}: ${r.skipped}`);
    if (r.metric === "rate" || r.metric === "fill") for (const n of r.notes) console.log(`note: ${r.workload}: ${n}`);
  }
  for (const wmsg of warnings) console.log(`warning: ${wmsg}`);
}

/** bench/results/<start time>[-quick].json: options, rows, every sample, warnings and the machine's load. */
function writeResults(
  o: Options,
  started: Date,
  load0: number,
  out: { rows: RowResult[]; samples: Record<string, unknown>[]; warnings: string[] },
): void {
  const load1 = loadavg()[0]!;
  const outDir = join(BENCH, "results");
  mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const file = join(outDir, `${stamp}${o.quick ? "-quick" : ""}.json`);
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
  const bsVersion = Bun.spawnSync([BEANSTALKD, "-v"]).stdout.toString().trim();
  writeFileSync(
    file,
    JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        git,
        bun: Bun.version,
        beanstalkd: bsVersion,
        cpus: cpus().length,
        loadavg: { start: load0, end: load1 },
        options: o,
        rows: out.rows,
        samples: out.samples,
        warnings: out.warnings,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nresults: ${file.slice(ROOT.length + 1)} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const ws = selected(o);
  if (o.list) {
    for (const w of WORKLOADS) console.log(`${w.group.padEnd(6)} ${w.id}`);
    return;
  }
  await buildLoadgen();
  const started = new Date();
  const load0 = loadavg()[0]!;
  console.log(
    `bench: ${ws.length} workloads, ${o.rounds} round(s) x ${o.secs}s (+${o.warmup}s warm-up), fill/drain ${o.jobs} jobs x ${o.fillRounds} round(s)`,
  );
  console.log(
    `bench: servers on cpu ${o.serverCpu}, load generator on cpu ${o.genCpu}; ${cpus().length} cpus; load average ${load0.toFixed(2)}`,
  );
  if (load0 > 0.5) console.log("bench: WARNING: the machine is not idle (load average > 0.5): figures will be noisy");

  const tmpRoot = mkdtempSync(join(tmpdir(), "beanrun-bench-"));
  tempDirs.add(tmpRoot);
  const out = { rows: [] as RowResult[], samples: [] as Record<string, unknown>[], warnings: [] as string[] };
  for (const w of ws) await runWorkload(w, o, tmpRoot, out);
  printTable(out.rows, o, out.warnings);
  writeResults(o, started, load0, out);
}

try {
  await main();
} catch (e) {
  console.error(`\nbench: ${(e as Error).message}`);
  cleanup();
  process.exit(1);
}
cleanup();
