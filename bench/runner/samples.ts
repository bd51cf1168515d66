/**
 * bench/runner/run.ts's two measurements on a running system: throughput (N
 * no-op jobs put to completion, and a pre-filled queue drained) and latency
 * (put to handler start at a steady rate), with the CPU each process used.
 * Kept apart from the driver so that the file stays under the house's 400
 * lines (issue 8).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Options, System } from "./options.ts";
import { cpuSeconds, now, type Running, sleep, until } from "./systems.ts";

// ---------------------------------------------------------------- samples

export interface ThroughputSample {
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

export interface LatencySample {
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

export function cpuWindow(pids: Record<string, number>): () => Record<string, number> {
  const t0 = performance.now();
  const c0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  return () => {
    const secs = (performance.now() - t0) / 1000;
    return Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, (cpuSeconds(p) - c0[k]!) / secs]));
  };
}

export async function drainTo(r: Running, target: number, limitMs: number): Promise<void> {
  await until(`${target} completed jobs`, limitMs, async () => (await r.completed()) >= target, 5);
}

export async function throughput(
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

export async function latency(r: Running, o: Options, tmp: string): Promise<{ lat: number[]; cpu: Record<string, number> }> {
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
