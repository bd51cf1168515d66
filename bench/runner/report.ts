/**
 * bench/runner/run.ts's results: the table of medians (one row per
 * workload, the second system over the first) and
 * bench/results/runner-<time>.json. Kept apart from the driver so that the
 * file stays under the house's 400 lines (issue 8).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { saveResults } from "../lib/results-file.ts";
import type { Options, System } from "./options.ts";
import type { LatencySample, ThroughputSample } from "./samples.ts";
import { median, NODE, REDIS, ROOT } from "./systems.ts";

export function fmt(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  if (unit === "ms") return v.toFixed(2);
  if (v >= 100_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}k`;
  return v.toFixed(0);
}

export const cpuText = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
    .join(", ");

export interface Row {
  label: string;
  unit: string;
  a: number | null;
  b: number | null;
  higherIsBetter: boolean;
}

export const ratio = (r: Row) => (r.a && r.b !== null ? r.b / r.a : null);

/** The table's rows: medians of each system's samples, A = the first system, B = the second. */
export function tableRows(o: Options, tp: ThroughputSample[], lt: LatencySample[]): Row[] {
  const [A, B] = [o.systems[0]!, o.systems[1] ?? o.systems[0]!];
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
  return rows;
}

/** The results table and its footnote. */
export function printTable(o: Options, rows: Row[]): void {
  const [A, B] = [o.systems[0]!, o.systems[1] ?? o.systems[0]!];
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
}

/** bench/results/runner-<start time>[-quick].json: versions, options, rows and every sample. */
export function writeResults(o: Options, started: Date, load0: number, rows: Row[], tp: ThroughputSample[], lt: LatencySample[]): void {
  const bullmqVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules/bullmq/package.json"), "utf8")) as { version: string }).version;
  saveResults("runner-", o.quick ? "-quick" : "", started, load0, {
    node: Bun.spawnSync([NODE, "--version"]).stdout.toString().trim(),
    bullmq: bullmqVersion,
    redis: Bun.spawnSync([REDIS, "--version"]).stdout.toString().trim(),
    options: o,
    rows: rows.map((r) => ({ ...r, ratio: ratio(r) })),
    throughput: tp,
    latency: lt,
  });
}
