#!/usr/bin/env bun
/**
 * Serverless-style workers (issue 10), side by side with a reference in one run:
 *
 * 1. Idle RSS of `beanrun run` with 30 tubes and nothing to do: scale to zero
 *    (no worker process) against every tube kept warm (`processes.min: 1`, the
 *    old one-process-per-tube design). Target: under 100 MiB in all.
 * 2. Cold start, put -> handler start, p50/p99: a put into a tube with no
 *    process (sequentially over the 30 tubes, each cold again by the time its
 *    turn comes; --idle 1) against the same puts into warm tubes. Target p99
 *    under 100 ms.
 * 3. A CPU-bound handler (about 20 ms of CPU a job) on one busy tube with
 *    `processes.max` 2 against 1, rounds alternating: jobs/s ratio. Target at
 *    least 1.7x on 2 cores.
 *
 *   bun bench/runner/scale.ts [--rounds N] [--cpu-jobs N]
 *
 * The load average before and after is printed: on a shared machine the
 * figures are only as good as it is quiet.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { parseEventLine, type Timed } from "../../runtime/runner/events.ts";
import { children, cleanup, cleanupOnSignals, tail, tempDirs } from "../lib/processes.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;
const TUBES = 30;

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ROUNDS = opt("--rounds", 3);
const CPU_JOBS = opt("--cpu-jobs", 150);

type Ev = Timed & Record<string, unknown>;

interface Run {
  proc: Bun.Subprocess;
  port: number;
  events: Ev[];
  waitFor(pred: (e: Ev) => boolean, ms?: number): Promise<Ev>;
  stop(): Promise<void>;
}

async function startRun(jobs: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = Bun.spawn(
    [BUN, join(ROOT, "runtime/cli.ts"), "run", "--jobs", jobs, "-p", "0", "--log-format", "json", "--log-level", "debug", ...args],
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
function treeRss(pid: number): number {
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

function jobsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-scale-bench-"));
  tempDirs.add(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.ts`), text);
  return dir;
}

const runtime = JSON.stringify(join(ROOT, "runtime/index.ts"));
/** A no-op handler that reports put -> start latency; BENCH_MIN sets processes.min. */
const latencyJob = `import { defineJob } from ${runtime};
export default defineJob({
  processes: { min: Number(process.env.BENCH_MIN ?? 0) },
  handler(p: { t: number }, ctx) { ctx.log.info("lat", { ms: performance.timeOrigin + performance.now() - p.t }); },
});\n`;
const cpuJob = (max: number) => `import { defineJob } from ${runtime};
export default defineJob({
  processes: { max: ${max} },
  handler() { const end = performance.now() + 20; let x = 0; while (performance.now() < end) x++; return x; },
});\n`;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tubes = Array.from({ length: TUBES }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);

async function idleAndColdStart(dir: string, warm: boolean): Promise<{ rss: number; lat: number[] }> {
  const run = await startRun(dir, ["--idle", "1", "--max-processes", String(TUBES * 2)], { BENCH_MIN: warm ? "1" : "0" });
  try {
    if (warm) for (const t of tubes) await run.waitFor((e) => e.type === "worker.ready" && e.tube === t);
    await sleep(2000);
    const rss = treeRss(run.proc.pid);
    const c = await Client.connect({ port: run.port });
    const lat: number[] = [];
    const alive = (t: string): boolean =>
      run.events.filter((e) => e.tube === t && e.type === "worker.start").length >
      run.events.filter((e) => e.tube === t && e.type === "worker.exit").length;
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of tubes) {
        // Cold: wait until the tube's last process has gone (it idles out after 1 s).
        while (!warm && alive(t)) await sleep(20);
        await c.use(t);
        const id = await c.put(JSON.stringify({ t: performance.timeOrigin + performance.now() }));
        const e = await run.waitFor((x) => x.type === "job.log" && x.id === id);
        lat.push((e.fields as { ms: number }).ms);
      }
    }
    c.close();
    return { rss, lat };
  } finally {
    await run.stop();
  }
}

async function cpuRound(run: Run, c: Client, tube: string): Promise<number> {
  await c.use(tube);
  const t0 = performance.now();
  const before = run.events.filter((e) => e.type === "job.done" && e.tube === tube).length;
  for (let i = 0; i < CPU_JOBS; i++) await c.put("{}");
  for (;;) {
    if (run.events.filter((e) => e.type === "job.done" && e.tube === tube).length - before >= CPU_JOBS) break;
    await sleep(20);
  }
  return CPU_JOBS / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  cleanupOnSignals("bench/runner/scale");
  const load0 = loadavg()[0]!;
  console.log(`bench/runner/scale: ${cpus().length} cpus; load average ${load0.toFixed(2)}; ${TUBES} tubes, ${ROUNDS} rounds`);
  const dir = jobsDir(Object.fromEntries(tubes.map((t) => [t, latencyJob])));
  const cold = await idleAndColdStart(dir, false);
  const warm = await idleAndColdStart(dir, true);

  const cpuDir = jobsDir({ cpu1: cpuJob(1), cpu2: cpuJob(2) });
  const run = await startRun(cpuDir, []);
  const c = await Client.connect({ port: run.port });
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      one.push(await cpuRound(run, c, "cpu1"));
      two.push(await cpuRound(run, c, "cpu2"));
    } else {
      two.push(await cpuRound(run, c, "cpu2"));
      one.push(await cpuRound(run, c, "cpu1"));
    }
  }
  c.close();
  const procs2 = new Set(run.events.filter((e) => e.type === "job.done" && e.tube === "cpu2").map((e) => e.pid)).size;
  await run.stop();
  const load1 = loadavg()[0]!;

  const med = (xs: number[]) => pct(xs, 50);
  const f = (x: number) => x.toFixed(1);
  console.log("\nworkload                                      | unit   | reference          | scale to zero      | ratio");
  console.log("----------------------------------------------|--------|--------------------|--------------------|------");
  console.log(
    `idle RSS, run + workers, ${TUBES} tubes             | MiB    | ${f(warm.rss).padStart(18)} | ${f(cold.rss).padStart(18)} | ${(cold.rss / warm.rss).toFixed(2)}x`,
  );
  console.log(
    `put -> handler start p50 (warm vs cold)       | ms     | ${f(pct(warm.lat, 50)).padStart(18)} | ${f(pct(cold.lat, 50)).padStart(18)} | ${(pct(cold.lat, 50) / pct(warm.lat, 50)).toFixed(1)}x`,
  );
  console.log(
    `put -> handler start p99 (warm vs cold)       | ms     | ${f(pct(warm.lat, 99)).padStart(18)} | ${f(pct(cold.lat, 99)).padStart(18)} | ${(pct(cold.lat, 99) / pct(warm.lat, 99)).toFixed(1)}x`,
  );
  console.log(
    `CPU-bound 20 ms jobs, max 1 vs max 2 processes | jobs/s | ${f(med(one)).padStart(18)} | ${f(med(two)).padStart(18)} | ${(med(two) / med(one)).toFixed(2)}x`,
  );
  console.log(
    `\ncold samples ${cold.lat.length}, max ${f(Math.max(...cold.lat))} ms; cpu rounds max1 [${one.map(f).join(", ")}] max2 [${two.map(f).join(", ")}] (${procs2} processes ran cpu2)`,
  );
  console.log(
    `load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after${load0 > 0.5 || load1 > 0.5 ? ": the machine was busy, figures are noisy" : ""}`,
  );
}

try {
  await main();
} finally {
  cleanup();
}
