import type { Options } from "./options.ts";
import { saveResults } from "./results-file.ts";
import { BEANSTALKD, median } from "./servers.ts";
import type { Workload } from "./workloads.ts";

export interface RowResult {
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
export function refLabel(o: Options): string {
  if (!o.reference) return "beanstalkd";
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: o.reference }).stdout.toString().trim();
  return `beanrun@${git || o.reference}`;
}

/** The table's rows of one workload, one per metric, before any sample. */
export function rowsOf(w: Workload, o: Options): RowResult[] {
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

/** Medians and ratios of a workload's rows once its samples are in. */
export function summarise(rows: RowResult[], skipOurs: string | undefined): void {
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

/** The results table, then its notes and the run's warnings. */
export function printTable(rows: RowResult[], o: Options, warnings: string[]): void {
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
export function writeResults(
  o: Options,
  started: Date,
  load0: number,
  out: { rows: RowResult[]; samples: Record<string, unknown>[]; warnings: string[] },
): void {
  saveResults("", o.quick ? "-quick" : "", started, load0, {
    beanstalkd: Bun.spawnSync([BEANSTALKD, "-v"]).stdout.toString().trim(),
    options: o,
    rows: out.rows,
    samples: out.samples,
    warnings: out.warnings,
  });
}
