#!/usr/bin/env bun
/**
 * What one worker process start costs (issue 10: a burst of cold tubes waits
 * for spares booting one after another, so this is its bound): a spare
 * worker (`worker --spare`) is spawned with an IPC channel as `run` spawns
 * it, killed when it says "loaded", and its CPU read from the kernel's
 * account of the whole process (user + system, every thread), with the wall
 * time to "loaded". Started from, side by side, rounds alternating:
 *
 * - `bun` with an IPC channel and nothing to load (the floor: Bun itself);
 * - the entry point, `bun runtime/cli.ts worker` (workers before the bundle,
 *   and still under BEANRUN_WORKER_BUNDLE=0 or until the bundle is built);
 * - the worker bundle (runtime/adapters/worker-bundle.ts), as `run` starts them now;
 * - the compiled executable (`beanrun build`, jobs of test/runner/fixtures/basic), `<exe> worker`.
 *
 *   bun bench/runner/worker-start.ts [--rounds N]    (default 25; about 20 s)
 *
 * CPU is steadier than wall time on a shared machine: the wall time is what
 * a start took with the cores as they were.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { workerBundle } from "../../runtime/adapters/worker-bundle.ts";
import { cleanup, cleanupOnSignals, tempDirs } from "../lib/processes.ts";

const ROOT = join(import.meta.dir, "../..");
const BUN = process.execPath;
const argv = process.argv.slice(2);
const ROUNDS = argv.includes("--rounds") ? Number(argv[argv.indexOf("--rounds") + 1]) : 25;
const SPARE = ["worker", "--spare", "--server", "127.0.0.1:1"];

/**
 * Spawns `cmd` with an IPC channel, waits for its "loaded" message, kills it:
 * [CPU ms, wall ms]. The CPU is the kernel's count for the whole process
 * (wait4's rusage, every thread, those that ended during the start too),
 * up to the kill.
 */
async function oneStart(cmd: string[]): Promise<[number, number]> {
  const t0 = performance.now();
  let loaded!: () => void;
  const isLoaded = new Promise<void>((r) => (loaded = r));
  const child = Bun.spawn(cmd, {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    serialization: "json",
    ipc: (m: { t?: string }) => m?.t === "loaded" && loaded(),
  });
  await Promise.race([
    isLoaded,
    child.exited.then((code) => {
      throw new Error(`${cmd.join(" ")} exited (${code}) before it loaded`);
    }),
  ]);
  const wall = performance.now() - t0;
  child.kill("SIGKILL");
  await child.exited;
  const cpu = Number(child.resourceUsage()?.cpuTime.total ?? Number.NaN); // µs
  return [cpu / 1000, wall];
}

async function compiledExecutable(): Promise<string | null> {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-worker-start-"));
  tempDirs.add(dir);
  const exe = join(dir, "beanrun");
  const p = Bun.spawnSync(
    [BUN, join(ROOT, "runtime/cli.ts"), "build", "--jobs", join(ROOT, "test/runner/fixtures/basic"), "--outfile", exe],
    {
      cwd: ROOT,
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  if (p.exitCode !== 0) {
    console.error(`(no compiled executable: ${p.stderr.toString().trim().split("\n").pop()})`);
    return null;
  }
  return exe;
}

async function main(): Promise<void> {
  cleanupOnSignals("bench/runner/worker-start");
  const load0 = loadavg()[0]!;
  let bundle = workerBundle();
  for (const end = Date.now() + 60_000; !bundle && Date.now() < end; bundle = workerBundle()) await Bun.sleep(50);
  if (!bundle) throw new Error("the worker bundle could not be built (see above)");
  const floor = join(mkdtempSync(join(tmpdir(), "beanrun-worker-start-")), "floor.js");
  tempDirs.add(join(floor, ".."));
  writeFileSync(floor, 'process.send({ t: "loaded" }); process.on("disconnect", () => process.exit(0));\n');
  const exe = await compiledExecutable();
  const variants: [string, string[]][] = [
    ["bun, IPC, nothing loaded (floor)", [BUN, floor]],
    ["entry point: bun runtime/cli.ts worker", [BUN, join(ROOT, "runtime/cli.ts"), ...SPARE]],
    ["worker bundle: bun <bundle> worker", [BUN, bundle, ...SPARE]],
    ...(exe ? [["compiled executable: <exe> worker", [exe, ...SPARE]] as [string, string[]]] : []),
  ];
  const cpu = variants.map(() => [] as number[]);
  const wall = variants.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, cmd]] of variants.entries()) {
      const [c, w] = await oneStart(cmd);
      cpu[i]!.push(c);
      wall[i]!.push(w);
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const f = (x: number): string => x.toFixed(1).padStart(8);
  const load1 = loadavg()[0]!;
  console.log(`\nbench/runner/worker-start: a spare worker's start, spawn -> "loaded", ${ROUNDS} rounds alternating`);
  console.log(`${"started from".padEnd(42)} | CPU p50 |  CPU min | wall p50 | CPU vs entry point`);
  for (const [i, [name]] of variants.entries()) {
    console.log(
      `${name.padEnd(42)} | ${f(med(cpu[i]!))} | ${f(Math.min(...cpu[i]!))} | ${f(med(wall[i]!))} | ${(med(cpu[i]!) / med(cpu[1]!)).toFixed(2)}x`,
    );
  }
  console.log(
    `(ms; load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after${load0 > 0.5 || load1 > 0.5 ? ": the machine was busy" : ""})`,
  );
}

try {
  await main();
} finally {
  cleanup();
}
