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
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, cleanupOnSignals, tempDirs } from "../lib/processes.ts";
import { type Options, parseArgs, type System } from "./options.ts";
import { cpuText, fmt, printTable, tableRows, writeResults } from "./report.ts";
import { type LatencySample, latency, type ThroughputSample, throughput } from "./samples.ts";
import { quantile, type Running, startBeanrun, startBullmq } from "./systems.ts";

// ---------------------------------------------------------------- cleanup

cleanupOnSignals("bench/runner");
process.on("exit", cleanup);

// ---------------------------------------------------------------- main

type Start = (s: System, c: number) => Promise<Running>;

/** Throughput at each concurrency: its rounds, ABBA, each system fresh per sample; samples are appended to tp. */
async function runThroughput(o: Options, start: Start, ordered: (r: number) => System[], tp: ThroughputSample[]): Promise<void> {
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

/** Latency: its rounds, ABBA, each system fresh per sample; samples are appended to lt. */
async function runLatency(o: Options, start: Start, ordered: (r: number) => System[], tmp: string, lt: LatencySample[]): Promise<void> {
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
  if (o.only.includes("throughput")) await runThroughput(o, start, ordered, tp);
  if (o.only.includes("latency")) await runLatency(o, start, ordered, tmp, lt);

  const rows = tableRows(o, tp, lt);
  printTable(o, rows);
  writeResults(o, started, load0, rows, tp, lt);
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
