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
 *    under 100 ms. Back to back, each put follows the previous handler at
 *    once (a burst of cold tubes: the spare taken by one is still loading
 *    when the next comes); then one more pass with the puts 400 ms apart (a
 *    quiet tube woken now and then: the spare is loaded).
 * 3. Under --connect (a `beanrun serve` elsewhere, the runner learning of
 *    work by asking it), the spaced cold starts again, and warm puts: the
 *    cost of not hearing the queue's own events.
 * 4. A CPU-bound handler (about 20 ms of CPU a job) on one busy tube with
 *    `processes.max` 2 against 1, rounds alternating: jobs/s ratio. Target at
 *    least 1.7x on 2 cores.
 * 5. The back-to-back cold starts again with workers started from the entry
 *    point (BEANRUN_WORKER_BUNDLE=0, as before the worker bundle) against the
 *    bundle (2.), and the CPU each cold start costs the runner's process tree.
 *
 *   bun bench/runner/scale.ts [--rounds N] [--cpu-jobs N] [--parts cold,warm,cpu,connect,unbundled]
 *   BEANRUN_ROOT=/other/checkout bun bench/runner/scale.ts ...   (another version, same bench)
 *
 * The cold starts are also broken down step by step (the worker.ready
 * event's boot marks against the put's time and the handler's): where a
 * cold start spends its time, and whether the spare served it.
 *
 * The load average before and after is printed: on a shared machine the
 * figures are only as good as it is quiet.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { cleanup, cleanupOnSignals } from "../lib/processes.ts";
import { jobsDir, ROOT, type Run, sleep, startRun, startServe, treeCpu, treeRss } from "./scale-processes.ts";
import { f, pct, printSteps, type Steps, stepsOf } from "./scale-steps.ts";

const TUBES = 30;

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ROUNDS = opt("--rounds", 3);
const CPU_JOBS = opt("--cpu-jobs", 150);
/** Which parts to run (default all): cold, warm, cpu, connect, unbundled. */
const PARTS = new Set((argv.includes("--parts") ? argv[argv.indexOf("--parts") + 1]! : "cold,warm,cpu,connect,unbundled").split(","));

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
const tubes = Array.from({ length: TUBES }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);

interface Latencies {
  rss: number;
  /** put -> handler start, back to back over the tubes. */
  lat: number[];
  steps: Steps[];
  /** CPU ms the runner's process tree used per cold start, back to back (workers exited since are counted). */
  cpuPerStart: number;
  /** Of which the run process itself (server, supervisor, logs). */
  cpuPerStartRun: number;
  /** Cold only: the same, one put every SPACED_MS (the spare has time to load between them). */
  spaced: number[];
  spacedSteps: Steps[];
}

/** Time between puts in the spaced pass: a spare loads well within it. */
const SPACED_MS = 400;

async function idleAndColdStart(dir: string, warm: boolean, env: Record<string, string> = {}): Promise<Latencies> {
  const run = await startRun(dir, ["--idle", "1", "--max-processes", String(TUBES * 2)], { BENCH_MIN: warm ? "1" : "0", ...env });
  try {
    if (warm) for (const t of tubes) await run.waitFor((e) => e.type === "worker.ready" && e.tube === t);
    await sleep(2000);
    const rss = treeRss(run.proc.pid);
    const c = await Client.connect({ port: run.port });
    const out: Latencies = { rss, lat: [], steps: [], spaced: [], spacedSteps: [], cpuPerStart: 0, cpuPerStartRun: 0 };
    const alive = (t: string): boolean =>
      run.events.filter((e) => e.tube === t && e.type === "worker.start").length >
      run.events.filter((e) => e.tube === t && e.type === "worker.exit").length;
    const pass = async (lat: number[], steps: Steps[], gapMs: number): Promise<void> => {
      for (const t of tubes) {
        // Cold: wait until the tube's last process has gone (it idles out after 1 s).
        while (!warm && alive(t)) await sleep(20);
        if (gapMs) await sleep(gapMs);
        await c.use(t);
        const putAt = performance.timeOrigin + performance.now();
        const id = await c.put(JSON.stringify({ t: putAt }));
        const e = await run.waitFor((x) => x.type === "job.log" && x.id === id);
        const ms = (e.fields as { ms: number }).ms;
        lat.push(ms);
        const s = warm ? null : stepsOf(run, t, putAt, putAt + ms);
        if (s) steps.push(s);
      }
    };
    const cpu0 = treeCpu(run.proc.pid);
    const self0 = treeCpu(run.proc.pid, true);
    for (let r = 0; r < ROUNDS; r++) await pass(out.lat, out.steps, 0);
    out.cpuPerStart = ((treeCpu(run.proc.pid) - cpu0) * 1000) / out.lat.length;
    out.cpuPerStartRun = ((treeCpu(run.proc.pid, true) - self0) * 1000) / out.lat.length;
    if (!warm) await pass(out.spaced, out.spacedSteps, SPACED_MS);
    c.close();
    return out;
  } finally {
    await run.stop();
  }
}

/** --connect: put -> handler for cold tubes (one put every SPACED_MS, each tube cold) and for warm ones. */
async function connectColdStart(dir: string): Promise<{ cold: number[]; warm: number[] }> {
  const serve = await startServe();
  const cold: number[] = [];
  const warm: number[] = [];
  try {
    const run = await startRun(dir, ["--connect", `127.0.0.1:${serve.port}`, "--idle", "1", "--max-processes", String(TUBES * 2)]);
    try {
      const c = await Client.connect({ port: serve.port });
      const once = async (t: string): Promise<number> => {
        await c.use(t);
        const putAt = performance.timeOrigin + performance.now();
        const id = await c.put(JSON.stringify({ t: putAt }));
        const e = await run.waitFor((x) => x.type === "job.log" && x.id === id);
        return (e.fields as { ms: number }).ms;
      };
      const alive = (t: string): boolean =>
        run.events.filter((e) => e.tube === t && e.type === "worker.start").length >
        run.events.filter((e) => e.tube === t && e.type === "worker.exit").length;
      for (const t of tubes) {
        while (alive(t)) await sleep(20);
        await sleep(SPACED_MS);
        cold.push(await once(t));
        warm.push(await once(t)); // its worker is up now
      }
      c.close();
    } finally {
      await run.stop();
    }
  } finally {
    await serve.stop();
  }
  return { cold, warm };
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

async function cpuRatio(): Promise<{ one: number[]; two: number[]; procs2: number }> {
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
  return { one, two, procs2 };
}
const row = (what: string, unit: string, ref: number, ours: number, ratio: string): void =>
  console.log(`${what.padEnd(46)} | ${unit.padEnd(6)} | ${f(ref).padStart(18)} | ${f(ours).padStart(18)} | ${ratio}`);

async function main(): Promise<void> {
  cleanupOnSignals("bench/runner/scale");
  const load0 = loadavg()[0]!;
  console.log(
    `bench/runner/scale: ${cpus().length} cpus; load average ${load0.toFixed(2)}; ${TUBES} tubes, ${ROUNDS} rounds; ${[...PARTS].join(", ")}`,
  );
  const dir = jobsDir(Object.fromEntries(tubes.map((t) => [t, latencyJob])));
  const cold = PARTS.has("cold") ? await idleAndColdStart(dir, false) : null;
  const unbundled = PARTS.has("unbundled") ? await idleAndColdStart(dir, false, { BEANRUN_WORKER_BUNDLE: "0" }) : null;
  const warm = PARTS.has("warm") ? await idleAndColdStart(dir, true) : null;
  const connect = PARTS.has("connect") ? await connectColdStart(dir) : null;
  const cpu = PARTS.has("cpu") ? await cpuRatio() : null;
  const load1 = loadavg()[0]!;

  console.log("\nworkload                                       | unit   | reference          | scale to zero      | ratio");
  console.log("-----------------------------------------------|--------|--------------------|--------------------|------");
  const ratio = (a: number, b: number, d = 1): string => (a && b ? `${(a / b).toFixed(d)}x` : "");
  const p = (l: number[] | undefined, q: number): number => (l?.length ? pct(l, q) : Number.NaN);
  if (cold || warm) {
    row(
      `idle RSS, run + workers, ${TUBES} tubes`,
      "MiB",
      warm?.rss ?? Number.NaN,
      cold?.rss ?? Number.NaN,
      ratio(cold?.rss ?? 0, warm?.rss ?? 0, 2),
    );
    for (const q of [50, 99]) {
      const w = p(warm?.lat, q);
      const c = p(cold?.lat, q);
      row(`put -> handler start p${q} (warm vs cold)`, "ms", w, c, ratio(c, w));
    }
    for (const q of [50, 99]) {
      const w = p(warm?.lat, q);
      const c = p(cold?.spaced, q);
      row(`  p${q}, cold starts ${SPACED_MS} ms apart`, "ms", w, c, ratio(c, w));
    }
  }
  if (cold && unbundled) {
    for (const q of [50, 99]) {
      const u = p(unbundled.lat, q);
      const c = p(cold.lat, q);
      row(`back to back p${q} (entry point vs bundle)`, "ms", u, c, ratio(c, u, 2));
    }
    const [u, c] = [unbundled.cpuPerStart, cold.cpuPerStart];
    row("  CPU per cold start (entry point vs bundle)", "ms", u, c, ratio(c, u, 2));
  }
  if (connect) {
    for (const q of [50, 99]) {
      const w = pct(connect.warm, q);
      const c = pct(connect.cold, q);
      row(`--connect: put -> handler p${q} (warm vs cold)`, "ms", w, c, ratio(c, w));
    }
  }
  if (cpu) {
    const med = (xs: number[]) => pct(xs, 50);
    row("CPU-bound 20 ms jobs, max 1 vs max 2 processes", "jobs/s", med(cpu.one), med(cpu.two), ratio(med(cpu.two), med(cpu.one), 2));
  }
  if (cold) {
    printSteps("back to back", cold.steps);
    printSteps(`${SPACED_MS} ms apart`, cold.spacedSteps);
    console.log(`\ncold samples ${cold.lat.length} back to back (max ${f(Math.max(...cold.lat))} ms), ${cold.spaced.length} spaced`);
    console.log(`back to back, in order (ms): ${cold.lat.map((x) => x.toFixed(0)).join(" ")}`);
    if (unbundled) console.log(`  from the entry point (ms): ${unbundled.lat.map((x) => x.toFixed(0)).join(" ")}`);
    console.log(
      `CPU of run and its workers per back-to-back start: ${f(cold.cpuPerStart)} ms cold (run itself ${f(cold.cpuPerStartRun)}), ${warm ? `${f(warm.cpuPerStart)} (${f(warm.cpuPerStartRun)})` : "-"} ms warm (10 ms ticks)`,
    );
  }
  if (cpu)
    console.log(`cpu rounds max1 [${cpu.one.map(f).join(", ")}] max2 [${cpu.two.map(f).join(", ")}] (${cpu.procs2} processes ran cpu2)`);
  console.log(
    `load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after${load0 > 0.5 || load1 > 0.5 ? ": the machine was busy, figures are noisy" : ""}`,
  );
}

try {
  await main();
} finally {
  cleanup();
}
