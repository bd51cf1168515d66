/**
 * `npm test`: the whole suite, its files run in K concurrent `bun test`
 * processes. `bun test` alone runs files one after another in one process,
 * and most of the suite's time is spent waiting on child processes and
 * sockets (PostgreSQL clusters, beanstalkd, Chromium, npm pack), not on the
 * CPU, so a few files side by side finish sooner even on 2 cores.
 *
 * - Work queue, longest first: each of the K slots takes the next unit from
 *   a list sorted by the durations recorded in test/support/durations.json
 *   (a unit not listed there counts as long, so it starts early). A unit is
 *   one file, or a group of files that must share one process (GROUPS),
 *   recorded under its files joined by " + ".
 * - Every unit runs as `bun test --timeout 30000 ./FILE...` in its own
 *   process group, its stdout and stderr into one log file (in order, never
 *   blocked on a full pipe). When it ends, one line says how it went; a
 *   failed unit's whole log is printed there and then, under its name, so a
 *   failure reads as it would from `bun test FILE`. A unit that runs past
 *   UNIT_LIMIT_MS is killed (with its process group) and fails.
 * - No retries: a unit fails once and the run fails (exit 1), after the
 *   other units finished; the summary lists the failed files again.
 *
 * Usage: bun scripts/test.ts [-j K] [--record] [PATH_FILTER...] [-- BUN_TEST_ARGS...]
 *   -j K / BEANRUN_TEST_JOBS=K   concurrent processes (default DEFAULT_JOBS)
 *   --record                     rewrite test/support/durations.json from this run
 *   PATH_FILTER                  run only files whose path contains it (e.g. test/runner)
 *   -- ARGS                      passed on to every `bun test` (e.g. -- -t "name")
 * A single file still runs with plain `bun test --timeout 30000 FILE`.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const DURATIONS = join(ROOT, "test/support/durations.json");
/**
 * Measured on the 2-core machine this is developed on, shared with four other suites (load 15-25):
 * whole suite 753 s at 2, 595 s at 3, 451 s at 4 (each file alone, one after another: 1091 s).
 * Most of a file's time is waiting on child processes and sockets, so 4 on 2 cores still gains.
 */
const DEFAULT_JOBS = 4;
/** Far above any file's time (the longest takes ~2 min alone); only a hung process reaches it. */
const UNIT_LIMIT_MS = 15 * 60_000;
/** Seconds assumed for a file durations.json does not list yet: long, so it starts early. */
const UNKNOWN_SECONDS = 60;

/**
 * Files that must run in one `bun test` process together: package.test.ts
 * and readme.test.ts share one `npm pack` + install (test/package/consumer.ts
 * caches it per process), and two processes packing at once would both
 * rebuild dist/ in the repository.
 */
const GROUPS: string[][] = [["test/package.test.ts", "test/readme.test.ts"]];

interface Unit {
  files: string[];
  seconds: number;
}

/** A unit's name, and its key in durations.json: its files joined by " + ". */
const unitName = (u: Unit): string => u.files.join(" + ");

interface Outcome {
  unit: Unit;
  ok: boolean;
  seconds: number;
  pass: number;
  fail: number;
  log: string;
  logPath: string;
  why?: string;
}

function parseArgs(argv: string[]): { jobs: number; record: boolean; filters: string[]; extra: string[] } {
  let jobs = Number(process.env.BEANRUN_TEST_JOBS || DEFAULT_JOBS);
  let record = false;
  const filters: string[] = [];
  const extra: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      extra.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-j" || a === "--jobs") jobs = Number(argv[++i]);
    else if (a.startsWith("--jobs=")) jobs = Number(a.slice(7));
    else if (a === "--record") record = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (bun test options go after --)`);
    else filters.push(a.replace(/^\.\//, ""));
  }
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`-j wants a whole number of processes >= 1, not ${jobs}`);
  return { jobs, record, filters, extra };
}

function recorded(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS, "utf8")) as Record<string, number>;
  } catch {
    return {};
  }
}

/** The units to run, longest first. */
function plan(filters: string[]): Unit[] {
  const all = [...new Bun.Glob("test/**/*.test.ts").scanSync({ cwd: ROOT })]
    .filter((f) => !f.includes("node_modules"))
    .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
    .sort();
  const seconds = recorded();
  const units: Unit[] = [];
  const grouped = new Set<string>();
  for (const group of GROUPS) {
    const files = group.filter((f) => all.includes(f));
    for (const f of files) grouped.add(f);
    if (files.length) units.push({ files, seconds: 0 });
  }
  for (const f of all) if (!grouped.has(f)) units.push({ files: [f], seconds: 0 });
  for (const u of units) u.seconds = seconds[unitName(u)] ?? UNKNOWN_SECONDS;
  return units.sort((a, b) => b.seconds - a.seconds);
}

const running = new Set<number>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {}
}

function runUnit(unit: Unit, logDir: string, extra: string[]): Promise<Outcome> {
  const logPath = join(logDir, `${unit.files[0]!.replaceAll("/", "_")}.log`);
  const fd = openSync(logPath, "w");
  const started = performance.now();
  const child = spawn(process.execPath, ["test", "--timeout", "30000", ...extra, ...unit.files.map((f) => `./${f}`)], {
    cwd: ROOT,
    stdio: ["ignore", fd, fd],
    detached: true,
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  closeSync(fd);
  const pid = child.pid!;
  running.add(pid);
  let why: string | undefined;
  const limit = setTimeout(() => {
    why = `killed after ${UNIT_LIMIT_MS / 60_000} min`;
    killGroup(pid);
  }, UNIT_LIMIT_MS);
  return new Promise((resolve) => {
    child.on("error", (e) => {
      why = `could not start bun test: ${e.message}`;
    });
    child.on("close", (code, signal) => {
      clearTimeout(limit);
      running.delete(pid);
      // Whatever the unit left behind in its process group goes with it.
      killGroup(pid);
      const log = readFileSync(logPath, "utf8");
      const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(log)?.[1] ?? 0);
      if (!why && signal) why = `bun test ended by ${signal}`;
      resolve({
        unit,
        ok: code === 0 && !why,
        seconds: (performance.now() - started) / 1000,
        pass: count("pass"),
        fail: count("fail"),
        log,
        logPath,
        why,
      });
    });
  });
}

function report(o: Outcome, done: number, total: number): void {
  const name = unitName(o.unit);
  const head = `[${String(done).padStart(String(total).length)}/${total}]`;
  if (o.ok) {
    console.log(`${head} ok   ${name}  ${o.seconds.toFixed(1)} s, ${o.pass} pass`);
    return;
  }
  const bar = "=".repeat(72);
  console.log(`${bar}\n${head} FAIL ${name}  ${o.seconds.toFixed(1)} s, ${o.pass} pass, ${o.fail} fail${o.why ? ` (${o.why})` : ""}`);
  console.log(`--- output of bun test ${o.unit.files.join(" ")} ---\n${o.log.trimEnd()}\n${bar}`);
}

async function main(): Promise<number> {
  const { jobs, record, filters, extra } = parseArgs(process.argv.slice(2));
  const units = plan(filters);
  if (units.length === 0) {
    console.error(`no test files match ${filters.join(" ")}`);
    return 1;
  }
  const files = units.reduce((n, u) => n + u.files.length, 0);
  console.log(`bun test: ${files} files in ${units.length} processes, ${Math.min(jobs, units.length)} at a time (longest first)`);
  const logDir = mkdtempSync(join(tmpdir(), "beanrun-test-"));
  const started = performance.now();
  const queue = [...units];
  const outcomes: Outcome[] = [];
  const slot = async (): Promise<void> => {
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const o = await runUnit(unit, logDir, extra);
      outcomes.push(o);
      report(o, outcomes.length, units.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, units.length) }, slot));
  const wall = (performance.now() - started) / 1000;
  const failed = outcomes.filter((o) => !o.ok);
  // The failed units' logs stay for a closer look (they were printed above too).
  for (const o of outcomes) if (o.ok) rmSync(o.logPath, { force: true });
  if (!failed.length) rmSync(logDir, { recursive: true, force: true });

  const pass = outcomes.reduce((n, o) => n + o.pass, 0);
  const fail = outcomes.reduce((n, o) => n + o.fail, 0);
  const busy = outcomes.reduce((n, o) => n + o.seconds, 0);
  console.log(
    `\n${pass} pass, ${fail} fail across ${files} files; ${wall.toFixed(1)} s wall, ${busy.toFixed(1)} s in files, ${jobs} at a time`,
  );
  if (record) {
    const seconds = recorded();
    for (const o of outcomes) seconds[unitName(o.unit)] = Math.round(o.seconds * 10) / 10;
    const sorted = Object.fromEntries(Object.entries(seconds).sort(([a], [b]) => a.localeCompare(b)));
    writeFileSync(DURATIONS, `${JSON.stringify(sorted, null, 2)}\n`);
    console.log(`durations recorded in ${relative(ROOT, DURATIONS)}`);
  }
  if (failed.length) {
    console.log(`FAILED (${failed.length}):`);
    for (const o of failed) console.log(`  ${unitName(o.unit)}${o.why ? `  (${o.why})` : ""}  log: ${o.logPath}`);
    return 1;
  }
  return 0;
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const pid of running) killGroup(pid);
    process.exit(130);
  });
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  return 2;
});
