/**
 * One results file per benchmark run: bench/results/<prefix><start time><suffix>.json,
 * opening with what every run records (start and end, the commit, Bun's
 * version, the cores and the load average before and after, so a figure can
 * be judged by how quiet the machine was), then the benchmark's own fields.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

/** Writes the file and prints its path and the run's length; returns the path. */
export function saveResults(prefix: string, suffix: string, started: Date, load0: number, fields: Record<string, unknown>): string {
  const outDir = join(ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${prefix}${started.toISOString().replace(/[:.]/g, "-")}${suffix}.json`);
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
  const head = { started: started.toISOString(), finished: new Date().toISOString(), git, bun: Bun.version, cpus: cpus().length };
  const record = { ...head, loadavg: { start: load0, end: loadavg()[0] }, ...fields };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`\nresults: ${file.slice(ROOT.length + 1)} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
  return file;
}
