#!/usr/bin/env bun
/**
 * End-to-end job-runner benchmark: `beanrun run` (embedded server + one
 * worker process) against BullMQ (Redis + a Node worker process), side by
 * side in one run. See bench/README.md ("The job runner against BullMQ").
 *
 *   bun bench/runner/run.ts [--quick] [--rounds N] [--jobs N] [--warmup N]
 *                           [--concurrency 1,10,50] [--rate R] [--lat-secs S]
 *                           [--lat-concurrency C] [--only throughput|latency]
 *                           [--log-level warn|info] [--systems beanrun,bullmq]
 *
 * Throughput: a producer in this process puts N jobs (pipelined, in chunks)
 * while the worker runs a no-op handler; the figure is N / (time from the
 * first put to the moment the server shows every job completed). Latency: R
 * jobs/s for S seconds, each carrying its put time; the handler records
 * put-to-handler-start. Results go to bench/results/runner-<time>.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Queue } from "bullmq";
import { Client } from "../../runtime/client/index.ts";
import { children, cleanup, cleanupOnSignals, tail, tempDirs } from "../lib/processes.ts";

const HERE = import.meta.dir;
const ROOT = resolve(HERE, "../..");
const BUN = process.execPath;
const NODE = process.env.NODE ?? "node";
const REDIS = process.env.REDIS_SERVER ?? "redis-server";
const TUBE = "bench";

// ---------------------------------------------------------------- options

type System = "beanrun" | "bullmq";

interface Options {
  quick: boolean;
  rounds: number;
  jobs: number;
  warmup: number;
  concurrency: number[];
  rate: number;
  latSecs: number;
  latConcurrency: number;
  only: ("throughput" | "latency")[];
  logLevel: string;
  systems: System[];
  chunk: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    rounds: 3,
    jobs: 30_000,
    warmup: 5_000,
    concurrency: [1, 10, 50],
    rate: 300,
    latSecs: 4,
    latConcurrency: 10,
    only: ["throughput", "latency"],
    logLevel: "warn",
    systems: ["bullmq", "beanrun"],
    chunk: 500,
  };
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(val());
      if (!Number.isFinite(v) || v <= 0) usage(`${a} needs a positive number`);
      return v;
    };
    set.add(a);
    switch (a) {
      case "--quick":
        o.quick = true;
        break;
      case "--rounds":
        o.rounds = Math.round(num());
        break;
      case "--jobs":
        o.jobs = Math.round(num());
        break;
      case "--warmup":
        o.warmup = Math.round(num());
        break;
      case "--concurrency":
        o.concurrency = val()
          .split(",")
          .map(Number)
          .filter((n) => n > 0);
        break;
      case "--rate":
        o.rate = num();
        break;
      case "--lat-secs":
        o.latSecs = num();
        break;
      case "--lat-concurrency":
        o.latConcurrency = Math.round(num());
        break;
      case "--only":
        o.only = val().split(",") as Options["only"];
        break;
      case "--log-level":
        o.logLevel = val();
        break;
      case "--systems":
        o.systems = val().split(",") as System[];
        break;
      case "--chunk":
        o.chunk = Math.round(num());
        break;
      case "-h":
      case "--help":
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  if (o.quick) {
    if (!set.has("--rounds")) o.rounds = 1;
    if (!set.has("--jobs")) o.jobs = 10_000;
    if (!set.has("--warmup")) o.warmup = 2_000;
    if (!set.has("--lat-secs")) o.latSecs = 2;
  }
  return o;
}

function usage(err?: string): never {
  if (err) console.error(`bench/runner: ${err}`);
  console.error(`usage: bun bench/runner/run.ts [--quick] [--rounds N] [--jobs N] [--warmup N] [--concurrency 1,10,50]
       [--rate R] [--lat-secs S] [--lat-concurrency C] [--only throughput,latency] [--log-level warn|info]
       [--systems bullmq,beanrun] [--chunk N]`);
  process.exit(err ? 2 : 0);
}

// ---------------------------------------------------------------- processes and cleanup

cleanupOnSignals("bench/runner");
process.on("exit", cleanup);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = (): number => performance.timeOrigin + performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function until(what: string, ms: number, fn: () => Promise<boolean> | boolean, every = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

async function stopProc(p: Bun.Subprocess, sig: NodeJS.Signals = "SIGTERM"): Promise<void> {
  p.kill(sig);
  const t = setTimeout(() => p.kill("SIGKILL"), 5000);
  await p.exited;
  clearTimeout(t);
  children.delete(p);
}

// ---------------------------------------------------------------- the two systems

/** What a sample needs from a running system. */
interface Running {
  /** Processes whose CPU use is reported: label -> pid. */
  pids: Record<string, number>;
  /** Queues `n` jobs with this payload builder; resolves when all are accepted. */
  putMany(n: number, payload: (i: number) => object): Promise<void>;
  /** Puts one job without waiting for the reply (latency runs). */
  putOne(payload: object): Promise<unknown>;
  /** Jobs completed so far (deleted / removed on completion). */
  completed(): Promise<number>;
  /** Stop handing jobs to the worker (beanrun: pause-tube; BullMQ: queue.pause()), and start again. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
  stderr(): string;
}

async function startBeanrun(o: Options, concurrency: number): Promise<Running> {
  const proc = Bun.spawn(
    [
      BUN,
      join(ROOT, "runtime/cli.ts"),
      "run",
      "--jobs",
      join(HERE, "jobs"),
      "-l",
      "127.0.0.1",
      "-p",
      "0",
      "--log-level",
      o.logLevel,
      "--grace",
      "2",
    ],
    { cwd: ROOT, stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, BENCH_CONCURRENCY: String(concurrency) } },
  );
  children.add(proc);
  let port = 0;
  const err = tail(proc.stderr as ReadableStream<Uint8Array>, (t) => {
    const m = /beanrun: listening on 127\.0\.0\.1:(\d+)/.exec(t);
    if (m) port = Number(m[1]);
  });
  await until(
    "beanrun's listening line",
    15_000,
    () => {
      if (proc.exitCode !== null) throw new Error(`beanrun run exited at start: ${err.text()}`);
      return port > 0;
    },
    10,
  );
  const producer = await Client.connect({ port });
  await producer.use(TUBE);
  const probe = await Client.connect({ port });
  // Ready when every slot's connection watches the tube.
  await until(
    `${concurrency} worker connections`,
    15_000,
    async () => (await probe.statsTube(TUBE).catch(() => null))?.["current-watching"] === concurrency,
  );
  const workerPid = childPids(proc.pid)[0] ?? -1;
  const enc = new TextEncoder();
  return {
    pids: { "server+supervisor": proc.pid, worker: workerPid },
    async putMany(n, payload) {
      for (let i = 0; i < n; i += o.chunk) {
        const ps: Promise<number>[] = [];
        for (let j = i; j < Math.min(n, i + o.chunk); j++) ps.push(producer.put(enc.encode(JSON.stringify(payload(j))), { ttr: 60 }));
        await Promise.all(ps);
      }
    },
    putOne: (p) => producer.put(JSON.stringify(p), { ttr: 60 }),
    completed: async () => (await probe.statsTube(TUBE))["cmd-delete"],
    pause: () => probe.pauseTube(TUBE, 3600),
    resume: () => probe.pauseTube(TUBE, 0),
    async stop() {
      producer.close();
      probe.close();
      await stopProc(proc);
    },
    stderr: err.text,
  };
}

async function startBullmq(o: Options, concurrency: number, tmp: string): Promise<Running> {
  const port = await freePort();
  const redis = Bun.spawn([REDIS, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(redis);
  const connection = { host: "127.0.0.1", port };
  const queue = new Queue(TUBE, { connection });
  queue.on("error", () => {}); // reconnect attempts once redis is stopped
  await until("redis", 10_000, async () => {
    if (redis.exitCode !== null) throw new Error("redis-server exited at start");
    try {
      await queue.getJobCounts();
      return true;
    } catch {
      return false;
    }
  });
  const worker = Bun.spawn([NODE, join(HERE, "bullmq-worker.mjs"), String(port), String(concurrency)], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.add(worker);
  let ready = false;
  tail(worker.stdout as ReadableStream<Uint8Array>, (t) => (ready ||= t.includes("ready")));
  const err = tail(worker.stderr as ReadableStream<Uint8Array>);
  await until(
    "the BullMQ worker",
    15_000,
    () => {
      if (worker.exitCode !== null) throw new Error(`BullMQ worker exited at start: ${err.text()}`);
      return ready;
    },
    10,
  );
  const opts = { removeOnComplete: true, removeOnFail: true };
  let added = 0;
  return {
    pids: { redis: redis.pid, worker: worker.pid },
    async putMany(n, payload) {
      for (let i = 0; i < n; i += o.chunk) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + o.chunk); j++) batch.push({ name: "j", data: payload(j), opts });
        await queue.addBulk(batch);
      }
      added += n;
    },
    putOne: (p) => {
      added++;
      return queue.add("j", p, opts);
    },
    // Completed = added - still waiting, active or delayed (completed jobs are removed).
    completed: async () => {
      const c = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
      return added - Object.values(c).reduce((a, b) => a + b, 0);
    },
    pause: () => queue.pause(),
    resume: () => queue.resume(),
    async stop() {
      await stopProc(worker);
      await queue.close();
      await stopProc(redis);
    },
    stderr: err.text,
  };
}

// ---------------------------------------------------------------- samples

interface ThroughputSample {
  system: System;
  concurrency: number;
  round: number;
  jobs: number;
  secs: number;
  rate: number;
  putSecs: number;
  /** Jobs/s draining a queue filled beforehand (no producer running). */
  drainRate: number;
  cpu: Record<string, number>;
  drainCpu: Record<string, number>;
}

interface LatencySample {
  system: System;
  concurrency: number;
  round: number;
  rate: number;
  jobs: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  cpu: Record<string, number>;
}

function cpuWindow(pids: Record<string, number>): () => Record<string, number> {
  const t0 = performance.now();
  const c0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  return () => {
    const secs = (performance.now() - t0) / 1000;
    return Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, (cpuSeconds(p) - c0[k]!) / secs]));
  };
}

async function drainTo(r: Running, target: number, limitMs: number): Promise<void> {
  await until(`${target} completed jobs`, limitMs, async () => (await r.completed()) >= target, 5);
}

async function throughput(
  r: Running,
  o: Options,
): Promise<{ secs: number; putSecs: number; cpu: Record<string, number>; drainRate: number; drainCpu: Record<string, number> }> {
  const base = await r.completed();
  await r.putMany(o.warmup, () => ({}));
  await drainTo(r, base + o.warmup, 120_000);
  await sleep(100);
  const start = await r.completed();
  const cpu = cpuWindow(r.pids);
  const t0 = performance.now();
  await r.putMany(o.jobs, () => ({}));
  const putSecs = (performance.now() - t0) / 1000;
  await drainTo(r, start + o.jobs, 300_000);
  const secs = (performance.now() - t0) / 1000;
  const c = cpu();
  // The same number of jobs again, put while the worker is paused; then only the drain is timed.
  await r.pause();
  await r.putMany(o.jobs, () => ({}));
  const filled = await r.completed();
  const dcpu = cpuWindow(r.pids);
  const t1 = performance.now();
  await r.resume();
  await drainTo(r, filled + o.jobs, 300_000);
  const drainSecs = (performance.now() - t1) / 1000;
  return { secs, putSecs, cpu: c, drainRate: o.jobs / drainSecs, drainCpu: dcpu() };
}

async function latency(r: Running, o: Options, tmp: string): Promise<{ lat: number[]; cpu: Record<string, number> }> {
  const base = await r.completed();
  // Warm-up at the same light rate, not measured.
  const warm = Math.min(o.warmup, Math.round(o.rate));
  const file = join(tmp, `lat-${Math.random().toString(36).slice(2)}.json`);
  const send = async (n: number, measured: boolean): Promise<void> => {
    const t0 = performance.now();
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / o.rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      ps.push(r.putOne(measured ? { t: now() } : {}));
    }
    await Promise.all(ps);
  };
  await send(warm, false);
  await drainTo(r, base + warm, 30_000);
  const n = Math.round(o.rate * o.latSecs);
  const cpu = cpuWindow(r.pids);
  await send(n, true);
  await drainTo(r, base + warm + n, 30_000);
  const c = cpu();
  await r.putOne({ dump: file });
  await until("the handler's latency file", 10_000, () => existsSync(file));
  await sleep(50);
  const lat = JSON.parse(readFileSync(file, "utf8")) as number[];
  if (lat.length !== n) throw new Error(`latency run recorded ${lat.length} jobs, expected ${n}`);
  return { lat, cpu: c };
}

// ---------------------------------------------------------------- main

function fmt(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  if (unit === "ms") return v.toFixed(2);
  if (v >= 100_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}k`;
  return v.toFixed(0);
}

const cpuText = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
    .join(", ");

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const load0 = loadavg()[0]!;
  console.log(
    `bench/runner: ${o.systems.join(" vs ")}; throughput at concurrency ${o.concurrency.join(", ")} (${o.jobs} jobs after ${o.warmup} warm-up, ${o.rounds} round(s), ABBA order); latency at ${o.rate} jobs/s for ${o.latSecs}s, concurrency ${o.latConcurrency}`,
  );
  console.log(`bench/runner: ${cpus().length} cpus, no pinning; load average ${load0.toFixed(2)}; beanrun --log-level ${o.logLevel}`);
  if (load0 > 0.5) console.log("bench/runner: WARNING: the machine is not idle (load average > 0.5): figures will be noisy");
  const tmp = mkdtempSync(join(tmpdir(), "beanrun-bench-runner-"));
  tempDirs.add(tmp);

  const start = (s: System, c: number): Promise<Running> => (s === "beanrun" ? startBeanrun(o, c) : startBullmq(o, c, tmp));
  const tp: ThroughputSample[] = [];
  const lt: LatencySample[] = [];

  const ordered = (r: number): System[] => (r % 2 === 0 ? o.systems : [...o.systems].reverse());

  if (o.only.includes("throughput")) {
    for (const c of o.concurrency) {
      for (let round = 0; round < o.rounds; round++) {
        for (const s of ordered(round)) {
          const run = await start(s, c);
          try {
            const x = await throughput(run, o);
            const sample: ThroughputSample = {
              system: s,
              concurrency: c,
              round,
              jobs: o.jobs,
              secs: x.secs,
              rate: o.jobs / x.secs,
              putSecs: x.putSecs,
              cpu: x.cpu,
              drainRate: x.drainRate,
              drainCpu: x.drainCpu,
            };
            tp.push(sample);
            console.log(
              `  c${String(c).padEnd(3)} ${s.padEnd(8)} ${fmt(sample.rate, "")} jobs/s  (puts done in ${x.putSecs.toFixed(2)}s of ${x.secs.toFixed(2)}s; cpu: ${cpuText(x.cpu)}); pre-filled drain ${fmt(x.drainRate, "")} jobs/s (cpu: ${cpuText(x.drainCpu)})`,
            );
          } catch (e) {
            throw new Error(`${s} at concurrency ${c}: ${(e as Error).message}\n${run.stderr().slice(-2000)}`);
          } finally {
            await run.stop();
          }
        }
      }
    }
  }

  if (o.only.includes("latency")) {
    for (let round = 0; round < o.rounds; round++) {
      for (const s of ordered(round)) {
        const run = await start(s, o.latConcurrency);
        try {
          const x = await latency(run, o, tmp);
          const sorted = [...x.lat].sort((a, b) => a - b);
          const sample: LatencySample = {
            system: s,
            concurrency: o.latConcurrency,
            round,
            rate: o.rate,
            jobs: x.lat.length,
            p50: quantile(sorted, 0.5),
            p90: quantile(sorted, 0.9),
            p99: quantile(sorted, 0.99),
            max: sorted.at(-1)!,
            cpu: x.cpu,
          };
          lt.push(sample);
          console.log(
            `  lat ${s.padEnd(8)} p50 ${sample.p50.toFixed(2)} ms, p99 ${sample.p99.toFixed(2)} ms, max ${sample.max.toFixed(2)} ms  (cpu: ${cpuText(x.cpu)})`,
          );
        } catch (e) {
          throw new Error(`${s} latency: ${(e as Error).message}\n${run.stderr().slice(-2000)}`);
        } finally {
          await run.stop();
        }
      }
    }
  }

  // ---- table
  const [A, B] = [o.systems[0]!, o.systems[1] ?? o.systems[0]!];
  interface Row {
    label: string;
    unit: string;
    a: number | null;
    b: number | null;
    higherIsBetter: boolean;
  }
  const rows: Row[] = [];
  const med = (xs: number[]) => (xs.length ? median(xs) : null);
  for (const c of o.concurrency) {
    if (!o.only.includes("throughput")) break;
    const pick = (s: System) => med(tp.filter((x) => x.system === s && x.concurrency === c).map((x) => x.rate));
    rows.push({ label: `no-op jobs, put to completion, concurrency ${c}`, unit: "jobs/s", a: pick(A), b: pick(B), higherIsBetter: true });
  }
  for (const c of o.concurrency) {
    if (!o.only.includes("throughput")) break;
    const pick = (s: System) => med(tp.filter((x) => x.system === s && x.concurrency === c).map((x) => x.drainRate));
    rows.push({
      label: `no-op jobs, drain a pre-filled queue, concurrency ${c}`,
      unit: "jobs/s",
      a: pick(A),
      b: pick(B),
      higherIsBetter: true,
    });
  }
  if (o.only.includes("latency")) {
    for (const q of ["p50", "p99"] as const) {
      const pick = (s: System) => med(lt.filter((x) => x.system === s).map((x) => x[q]));
      rows.push({
        label: `put to handler start ${q}, ${o.rate} jobs/s, c${o.latConcurrency}`,
        unit: "ms",
        a: pick(A),
        b: pick(B),
        higherIsBetter: false,
      });
    }
  }
  const ratio = (r: Row) => (r.a && r.b !== null ? r.b / r.a : null);
  const head = ["workload", "unit", A, B, "ratio"];
  const body = rows.map((r) => {
    const x = ratio(r);
    return [
      r.label,
      r.unit,
      fmt(r.a, r.unit),
      fmt(r.b, r.unit),
      x === null ? "-" : `${x.toFixed(2)}x${r.higherIsBetter ? "" : " (lower is better)"}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ");
  console.log("\n" + line(head));
  console.log(widths.map((n) => "-".repeat(n)).join("-|-"));
  for (const b of body) console.log(line(b));
  console.log(`\nmedians of the samples; ratio = ${B} / ${A}.`);

  const outDir = join(HERE, "..", "results");
  mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const file = join(outDir, `runner-${stamp}${o.quick ? "-quick" : ""}.json`);
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
  const bullmqVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules/bullmq/package.json"), "utf8")) as { version: string }).version;
  const redisVersion = Bun.spawnSync([REDIS, "--version"]).stdout.toString().trim();
  const nodeVersion = Bun.spawnSync([NODE, "--version"]).stdout.toString().trim();
  writeFileSync(
    file,
    JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        git,
        bun: Bun.version,
        node: nodeVersion,
        bullmq: bullmqVersion,
        redis: redisVersion,
        cpus: cpus().length,
        loadavg: { start: load0, end: loadavg()[0] },
        options: o,
        rows: rows.map((r) => ({ ...r, ratio: ratio(r) })),
        throughput: tp,
        latency: lt,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`results: ${file.slice(ROOT.length + 1)} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

try {
  await main();
} catch (e) {
  console.error(`\nbench/runner: ${(e as Error).stack ?? e}`);
  cleanup();
  process.exit(1);
}
cleanup();
process.exit(0);
