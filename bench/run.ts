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
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type Options, parseArgs } from "./lib/options.ts";
import { cleanup, cleanupOnSignals, tempDirs } from "./lib/processes.ts";
import { printTable, type RowResult, refLabel, rowsOf, summarise, writeResults } from "./lib/results.ts";
import { buildLoadgen, cpuSeconds, median, SERVERS, type ServerName, Skip, sleep, startServer, stopServer } from "./lib/servers.ts";
import { type Sample, selected, WORKLOADS, type Workload } from "./lib/workloads.ts";

// ---------------------------------------------------------------- cleanup

cleanupOnSignals("bench");
process.on("exit", cleanup);
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
