/**
 * What an open console costs the server, and what the page weighs.
 *
 *   bun bench/console.ts [--rounds N] [--secs S] [--conns C] [--pin]
 *
 * One beanrun server (`serve --http`; with --pin on CPU 0) runs put -> reserve
 * -> delete cycles from bench/loadgen.c (with --pin on CPU 1) in rounds that
 * alternate between no browser and a headless Chromium with the console's
 * overview open (it polls /api/overview every 2 s). Per round: cycles/s and
 * the server's CPU seconds per million cycles; the result is the median of
 * the per-pair ratios (console / none), side by side in one run. Also the
 * page's weight (bytes of GET /, and of one poll) and its time to first
 * render (navigation start to the tube table in the DOM, and the browser's
 * first contentful paint), median of 5 loads.
 *
 * The browser shares the machine with everything else: on a busy 2-core box
 * these figures are noisy, so read the ratio, not the absolute numbers.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { children, cleanup, cleanupOnSignals } from "./lib/processes.ts";

const BENCH = import.meta.dir;
const ROOT = join(BENCH, "..");
const LOADGEN = join(BENCH, ".build", "loadgen");

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROUNDS = arg("rounds", 4);
const SECS = arg("secs", 8);
const CONNS = arg("conns", 8);
/** --pin: server on CPU 0, load generator on CPU 1 (best on a quiet machine; on a crowded one it starves the server). */
const PIN = process.argv.includes("--pin");
const pinned = (cpu: string, cmd: string[]) => (PIN ? ["taskset", "-c", cpu, ...cmd] : cmd);

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** bench/loadgen.c compiled into bench/.build/loadgen when missing or older than its source. */
function buildLoadgen(): void {
  const src = join(BENCH, "loadgen.c");
  if (!existsSync(LOADGEN) || statSync(LOADGEN).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(BENCH, ".build"), { recursive: true });
    if (Bun.spawnSync(["cc", "-O2", "-Wall", "-o", LOADGEN, src]).exitCode !== 0) throw new Error("cannot build bench/loadgen.c");
  }
}

/** `serve --http` on free ports, ready once /healthz answers. */
async function startServer(): Promise<{ server: ReturnType<typeof Bun.spawn>; port: number; base: string }> {
  const port = await freePort();
  const http = await freePort();
  const server = Bun.spawn(
    pinned("0", [process.execPath, join(ROOT, "runtime/cli.ts"), "serve", "-p", String(port), "--http", String(http)]),
    { stderr: "pipe", stdout: "ignore" },
  );
  children.add(server);
  const base = `http://127.0.0.1:${http}/`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}healthz`)).ok) break;
    } catch {
      if (i > 200) throw new Error("the server did not start");
      await Bun.sleep(50);
    }
  }
  return { server, port, base };
}

type Browser = Awaited<ReturnType<typeof chromium.launch>>;

/** Page weight (GET / and one poll) and time to first render, over 5 loads. */
async function pageWeight(browser: Browser, base: string) {
  const pageBytes = (await (await fetch(base)).arrayBuffer()).byteLength;
  const pollBytes = (await (await fetch(`${base}api/overview`)).arrayBuffer()).byteLength;
  const renders: number[] = [];
  const fcps: number[] = [];
  for (let i = 0; i < 5; i++) {
    const p = await browser.newPage();
    await p.goto(base);
    await p.waitForSelector("main table");
    renders.push(Number(await p.evaluate("performance.now()")));
    fcps.push(Number(await p.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN")));
    await p.close();
  }
  return { pageBytes, pollBytes, firstRenderMs: Math.round(median(renders)), firstContentfulPaintMs: Math.round(median(fcps)) };
}

interface Round {
  console: boolean;
  rate: number;
  cpuPerM: number;
}

/** Server CPU with and without an open console, alternated: ROUNDS pairs of loadgen runs. */
async function cpuRounds(browser: Browser, pid: number, port: number, base: string): Promise<Round[]> {
  const rows: Round[] = [];
  for (let r = 0; r < ROUNDS * 2; r++) {
    const withConsole = r % 2 === 1;
    const page = withConsole ? await browser.newPage() : null;
    if (page) {
      await page.goto(base);
      await page.waitForSelector("main table");
    }
    const c0 = cpuSeconds(pid);
    const gen = Bun.spawn(pinned("1", [LOADGEN, "cycle", String(port), "-c", String(CONNS), "-s", "100", "-t", String(SECS), "-w", "1"]), {
      stdout: "pipe",
    });
    children.add(gen);
    const out = await new Response(gen.stdout).text();
    await gen.exited;
    children.delete(gen);
    const cpu = cpuSeconds(pid) - c0;
    const g = JSON.parse(out.trim().split("\n").pop()!) as { rate: number; ops: number };
    await page?.close();
    // CPU over the whole run (warm-up included) per cycle completed in it, scaled to a million.
    const cycles = g.rate * (SECS + 1);
    rows.push({ console: withConsole, rate: g.rate, cpuPerM: (cpu / cycles) * 1e6 });
    console.error(
      `round ${r + 1}: ${withConsole ? "console" : "none   "} ${Math.round(g.rate)} cycles/s, ${((cpu / cycles) * 1e6).toFixed(1)} CPU s per million cycles`,
    );
  }
  return rows;
}

/** Medians per side and the median of the per-pair ratios (console / none). */
function summarise(rows: Round[]) {
  const ratios: number[] = [];
  const rateRatios: number[] = [];
  for (let i = 0; i + 1 < rows.length; i += 2) {
    ratios.push(rows[i + 1]!.cpuPerM / rows[i]!.cpuPerM);
    rateRatios.push(rows[i + 1]!.rate / rows[i]!.rate);
  }
  return {
    cyclesPerSecond: {
      none: Math.round(median(rows.filter((x) => !x.console).map((x) => x.rate))),
      console: Math.round(median(rows.filter((x) => x.console).map((x) => x.rate))),
    },
    serverCpuPerMillionCycles: {
      none: +median(rows.filter((x) => !x.console).map((x) => x.cpuPerM)).toFixed(2),
      console: +median(rows.filter((x) => x.console).map((x) => x.cpuPerM)).toFixed(2),
    },
    cpuRatioConsoleOverNone: +median(ratios).toFixed(3),
    rateRatioConsoleOverNone: +median(rateRatios).toFixed(3),
  };
}

async function main(): Promise<void> {
  cleanupOnSignals("bench/console");
  buildLoadgen();
  const { server, port, base } = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const weight = await pageWeight(browser, base);
    const rows = await cpuRounds(browser, server.pid, port, base);
    console.log(JSON.stringify({ ...weight, ...summarise(rows), rounds: ROUNDS, secs: SECS, conns: CONNS, pinned: PIN }, null, 2));
  } finally {
    await browser.close();
    cleanup();
  }
}

await main();
