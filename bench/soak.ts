#!/usr/bin/env bun
/**
 * Memory soak: does the server's RSS plateau under a long mixed load, and is
 * the memory of big bodies given back once they are deleted? beanrun and the
 * real beanstalkd get the same rounds in lockstep, side by side in one run.
 * Not part of CI (it runs for minutes). See bench/README.md.
 *
 *   bun bench/soak.ts [--minutes 30] [--modes mem,b] [--parts fuzz,churn,big,traffic]
 *                     [--servers beanrun,beanstalkd] [--sample 2] [--bulk 2000] [--heap]
 *                     [--reference DIR] [--bun-flags="--smol ..."] [--env K=V,K=V]
 *
 * Modes: `mem` (no flags), `b` (`-b DIR`, fsync every 50 ms), `f0` (`-b DIR -f 0`).
 * Each mode runs its own pair of servers; modes run one after the other.
 *
 * A run, per mode:
 *  1. baseline: fresh servers, idle 3 s, RSS sampled;
 *  2. load for --minutes: rounds of the --parts (bench/soak-load.ts), each
 *     ending with every job deleted, RSS of each server read from
 *     /proc/PID/status every --sample seconds;
 *  3. idle 5 s, then --bulk 1 MiB bodies put (200 held at a time) and
 *     deleted, then idle 10 s: the post-big-body RSS is the last sample.
 *
 * Reported per server: baseline, peak, RSS at the end of the load, growth in
 * the last third (median RSS over the final 5% of the load against the median
 * over the 5% before the last third starts, so one GC's sawtooth is not
 * "growth"), the highest RSS in the last third against the highest before it,
 * and post-big-body RSS against the baseline. Targets (issue 12 item 5):
 * last-third growth under 5%, post-big-body within 20 MiB of the baseline.
 *
 * --reference DIR adds a third server, `reference`: beanrun from another
 * checkout (e.g. a `git worktree` of the commit before a change), driven in
 * the same lockstep, for before/after figures from one run.
 *
 * --bun-flags and --env start the `beanrun` server (not `reference`) with
 * those Bun flags and environment variables (e.g. --bun-flags=--smol, --env
 * MIMALLOC_PURGE_DELAY=0): with `--reference .` a lever is measured against
 * the same code without it, in lockstep.
 *
 * --heap starts beanrun with bench/soak-probe.ts preloaded, which prints
 * JavaScriptCore's heap size and object count every 10 s (retained objects
 * versus memory the allocator keeps).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { children, cleanup, cleanupOnSignals, tail, tempDirs } from "./lib/processes.ts";
import { bigBodies, type Counts, type RoundSize, round } from "./soak-load.ts";

const ROOT = resolve(process.env.BEANRUN_ROOT ?? resolve(import.meta.dir, ".."));
const BEANSTALKD = process.env.BEANSTALKD ?? "/usr/bin/beanstalkd";
const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    modes: { type: "string", default: "mem,b" },
    parts: { type: "string", default: "fuzz,churn,big,traffic" },
    servers: { type: "string", default: "beanrun,beanstalkd" },
    sample: { type: "string", default: "2" },
    bulk: { type: "string", default: "2000" },
    heap: { type: "boolean", default: false },
    reference: { type: "string" },
    "bun-flags": { type: "string", default: "" },
    env: { type: "string", default: "" },
  },
});
const MODES: Record<string, string[]> = { mem: [], b: ["-b", "@"], f0: ["-b", "@", "-f", "0"] };
/** Both servers take bodies up to 2 MiB (the default limit is 65,535 bytes). */
const COMMON_FLAGS = ["-z", String(2 * 1024 * 1024)];
const SIZE: RoundSize = { fuzzConns: 100, churnConns: 200, bigBodies: 8, trafficCycles: 2000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  name: string;
  port: number;
  pid: number;
  proc: Bun.Subprocess;
  stderr(): string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function start(name: string, flags: string[], attempt = 0): Promise<Server> {
  if (name === "beanstalkd") {
    const port = await freePort();
    const proc = Bun.spawn([BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), ...flags], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    children.add(proc);
    const err = tail(proc.stderr as ReadableStream<Uint8Array>);
    for (let i = 0; i < 250; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
        s.on("error", () => r(false));
      });
      if (ok) return { name, port, pid: proc.pid, proc, stderr: err.text };
      if (proc.exitCode !== null && attempt < 3) return start(name, flags, attempt + 1); // the port was taken meanwhile
      await sleep(20);
    }
    throw new Error(`beanstalkd did not start: ${err.text()}`);
  }
  const preload = args.heap ? ["--preload", join(import.meta.dir, "soak-probe.ts")] : [];
  const root = name === "reference" ? resolve(args.reference ?? "") : ROOT;
  const lever = name === "beanrun";
  const bunFlags = lever ? args["bun-flags"]!.split(" ").filter(Boolean) : [];
  const env = lever
    ? Object.fromEntries(
        args
          .env!.split(",")
          .filter(Boolean)
          .map((kv) => kv.split("=", 2) as [string, string]),
      )
    : {};
  const cmd = [process.execPath, ...bunFlags, ...preload, join(root, "runtime/cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...flags];
  const proc = Bun.spawn(cmd, {
    cwd: root,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(proc);
  let port = 0;
  const err = tail(
    proc.stderr as ReadableStream<Uint8Array>,
    (t) => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(t);
      if (m) port = Number(m[1]);
      if (!args.heap) return;
      for (const l of t.split("\n").filter((l) => l.startsWith("heap") && l.includes(" top:"))) {
        if (!heapLines.has(l)) console.error(`${name}: ${l}`);
        heapLines.add(l);
      }
    },
    4096,
  );
  for (let i = 0; !port; i++) {
    if (proc.exitCode !== null || i > 1500) throw new Error(`beanrun did not start: ${err.text()}`);
    await sleep(10);
  }
  return { name, port, pid: proc.pid, proc, stderr: err.text };
}

const heapLines = new Set<string>();

/** With --heap: beanrun runs a full collection and prints its heap (bench/soak-probe.ts). */
async function heapProbe(servers: Server[]): Promise<void> {
  if (!args.heap) return;
  for (const s of servers) if (s.name === "beanrun") s.proc.kill("SIGUSR2");
  await sleep(2000);
}

/** VmRSS and RssAnon of a process, in KiB (RssAnon leaves out the executable's pages, shared with other processes). */
function rssKiB(pid: number): [number, number] {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return [field("VmRSS"), field("RssAnon")];
}

interface Sample {
  t: number;
  phase: "baseline" | "load" | "idle" | "bulk" | "after";
  rss: number[];
  anon: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
const mib = (kib: number) => (kib / 1024).toFixed(1);

async function runMode(mode: string): Promise<object> {
  const flags = (dir: string) => [...COMMON_FLAGS, ...MODES[mode]!.map((f) => (f === "@" ? dir : f))];
  const servers: Server[] = [];
  const names = args.servers!.split(",");
  if (args.reference && !names.includes("reference")) names.push("reference");
  for (const name of names) {
    const dir = mkdtempSync(join(tmpdir(), `beanrun-soak-${name}-`));
    tempDirs.add(dir);
    servers.push(await start(name, flags(dir)));
  }
  const samples: Sample[] = [];
  const t0 = performance.now();
  let phase: Sample["phase"] = "baseline";
  const sampleNow = () => {
    const now = servers.map((s) => rssKiB(s.pid));
    samples.push({ t: (performance.now() - t0) / 1000, phase, rss: now.map((r) => r[0]), anon: now.map((r) => r[1]) });
  };
  const sampleMs = Number(args.sample) * 1000;
  const timer = setInterval(sampleNow, sampleMs);
  sampleNow();
  await sleep(3000);

  const parts = new Set(args.parts!.split(","));
  const counts = servers.map((): Counts => ({ fuzzInputs: 0, churn: 0, bigBodies: 0, cycles: 0 }));
  phase = "load";
  const loadStart = performance.now();
  const end = loadStart + Number(args.minutes) * 60_000;
  let rounds = 0;
  let lastLog = loadStart;
  while (performance.now() < end) {
    const seed = 1000 + rounds;
    await Promise.all(servers.map((s, i) => round(s.port, parts, SIZE, seed, counts[i]!)));
    rounds++;
    if (performance.now() - lastLog > 60_000) {
      lastLog = performance.now();
      const last = samples[samples.length - 1]!;
      console.error(
        `soak ${mode}: ${((lastLog - loadStart) / 60_000).toFixed(1)} min, ${rounds} rounds, RSS ${servers.map((s, i) => `${s.name} ${mib(last.rss[i]!)}`).join(", ")} MiB`,
      );
    }
  }
  sampleNow();
  phase = "idle";
  await sleep(5000);
  sampleNow();
  await heapProbe(servers);
  phase = "bulk";
  const bulk = Number(args.bulk);
  if (bulk > 0) await Promise.all(servers.map((s) => bigBodies(s.port, bulk, 200)));
  phase = "after";
  sampleNow();
  await sleep(10_000);
  sampleNow();
  await heapProbe(servers);
  clearInterval(timer);
  for (const s of servers) {
    if (s.proc.exitCode !== null) console.error(`soak: ${s.name} exited (${s.proc.exitCode}): ${s.stderr()}`);
    s.proc.kill("SIGKILL");
    children.delete(s.proc);
  }
  return report(mode, servers, samples, counts, rounds);
}

function report(mode: string, servers: Server[], samples: Sample[], counts: Counts[], rounds: number): object {
  const load = samples.filter((s) => s.phase === "load");
  const win = Math.max(1, Math.floor(load.length * 0.05));
  const third = Math.floor((load.length * 2) / 3);
  const last = (phase: Sample["phase"], pick: (x: Sample) => number) =>
    samples
      .filter((x) => x.phase === phase)
      .map(pick)
      .at(-1)!;
  const rows = servers.map((s, i) => {
    const at = (xs: Sample[]) => xs.map((x) => x.rss[i]!);
    const baseline = median(at(samples.filter((x) => x.phase === "baseline")));
    const anonBaseline = median(samples.filter((x) => x.phase === "baseline").map((x) => x.anon[i]!));
    const before = median(at(load.slice(Math.max(0, third - win), third)));
    const final = median(at(load.slice(-win)));
    const idle = last("idle", (x) => x.rss[i]!);
    const after = last("after", (x) => x.rss[i]!);
    return {
      server: s.name,
      "baseline MiB": +mib(baseline),
      "peak MiB": +mib(Math.max(...at(samples))),
      "end of load MiB": +mib(final),
      "last-third growth %": +((final / before - 1) * 100).toFixed(1),
      "last-third peak growth %": +((Math.max(...at(load.slice(third))) / Math.max(...at(load.slice(0, third))) - 1) * 100).toFixed(1),
      "idle before big bodies MiB": +mib(idle),
      "after big bodies MiB": +mib(after),
      "after big bodies - baseline": +mib(after - baseline),
      "after big bodies - idle before": +mib(after - idle),
      "anon: baseline MiB": +mib(anonBaseline),
      "anon: after big bodies MiB": +mib(last("after", (x) => x.anon[i]!)),
      ...counts[i],
    };
  });
  console.log(
    `\nmode ${mode} (${MODES[mode]!.join(" ") || "in memory"}), ${rounds} rounds of ${args.parts}, ${args.minutes} min, ${args.bulk} x 1 MiB after` +
      `${args["bun-flags"] || args.env ? ` (beanrun with ${[args["bun-flags"], args.env].filter(Boolean).join(" ")})` : ""}:`,
  );
  // One row per figure, one column per server.
  const table: Record<string, Record<string, number | string>> = {};
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (k !== "server") (table[k] ??= {})[r.server] = v;
  console.table(table);
  return { rows, samples };
}

cleanupOnSignals("soak");
try {
  const results: Record<string, object> = {};
  for (const mode of args.modes!.split(",")) {
    if (!MODES[mode]) throw new Error(`unknown mode ${mode} (mem, b, f0)`);
    results[mode] = await runMode(mode);
  }
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ args, size: SIZE, results }, null, 1));
  console.log(`samples: ${file}`);
} finally {
  cleanup();
}
