#!/usr/bin/env bun
/**
 * What garbage one put/reserve/delete cycle leaves, and what collecting it
 * costs the server: beanrun `serve` runs with JavaScriptCore's GC log on
 * (BUN_JSC_logGC), pinned to cpu 0, under `loadgen cycle` on cpu 1. After
 * the JIT threads go quiet (as in run.ts), one measured window gives:
 *
 * - heap bytes allocated per cycle (the heap's growth between collections,
 *   summed over the window, over the cycles done in it);
 * - collections per 100k cycles, and each collection's pause (p50, max, and
 *   their sum as a share of the window).
 *
 * It reads the server, not a comparison: run it before and after a change
 * to the read path. Pauses are wall time and grow on a busy machine; counts
 * and bytes per cycle do not depend on load.
 *
 *   bun bench/gc.ts [--secs S] [--conns N] [--body B] [-- SERVE FLAGS...]
 *   bun bench/gc.ts -- -b /tmp/wal -f 0
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { jitSeconds } from "./lib/jit.ts";
import { children, cleanup, cleanupOnSignals } from "./lib/processes.ts";

const ROOT = resolve(import.meta.dir, "..");
const LOADGEN = join(import.meta.dir, ".build", "loadgen");

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash < 0 ? argv : argv.slice(0, dash);
const serveFlags = dash < 0 ? [] : argv.slice(dash + 1);
const opt = (name: string, dflt: number) => {
  const i = own.indexOf(name);
  return i < 0 ? dflt : Number(own[i + 1]);
};
const SECS = opt("--secs", 4);
const CONNS = opt("--conns", 50);
const BODY = opt("--body", 100);

cleanupOnSignals("gc");
process.on("exit", cleanup);

async function loadgen(port: number, secs: number): Promise<{ ops: number; rate: number; p99_us: number }> {
  const p = Bun.spawn(
    ["taskset", "-c", "1", LOADGEN, "cycle", String(port), "-c", String(CONNS), "-s", String(BODY), "-t", String(secs), "-w", "0"],
    { stdout: "pipe", stderr: "inherit" },
  );
  children.add(p);
  const out = await new Response(p.stdout).text();
  await p.exited;
  children.delete(p);
  if (p.exitCode !== 0) throw new Error(`loadgen failed (exit ${p.exitCode})`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

interface Gc {
  startKb: number;
  endKb: number;
  pauseMs: number;
  eden: boolean;
}

/** Collections in JavaScriptCore's logGC output: "START M <kb>kb => EdenCollection ... => <kb>kb, p=<ms>ms ... END]". */
function parseGcs(text: string): Gc[] {
  const gcs: Gc[] = [];
  const re = /START M (\d+)kb => (\w+)Collection[\s\S]*?=> (\d+)kb, p=([\d.]+)ms[^\n]*END\]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    gcs.push({ startKb: Number(m[1]), eden: m[2] === "Eden", endKb: Number(m[3]), pauseMs: Number(m[4]) });
  }
  return gcs;
}

async function main(): Promise<void> {
  if (!Bun.spawnSync(["test", "-x", LOADGEN]).success) {
    mkdirSync(join(import.meta.dir, ".build"), { recursive: true });
    Bun.spawnSync(["cc", "-O2", "-o", LOADGEN, join(import.meta.dir, "loadgen.c")], { stderr: "inherit" });
  }
  const proc = Bun.spawn(
    ["taskset", "-c", "0", process.execPath, join(ROOT, "runtime", "cli.ts"), "serve", "-l", "127.0.0.1", "-p", "0", ...serveFlags],
    { cwd: ROOT, env: { ...process.env, BUN_JSC_logGC: "1" }, stdout: "ignore", stderr: "pipe" },
  );
  children.add(proc);
  let log = "";
  let port = 0;
  (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) {
      log += dec.decode(c, { stream: true });
      port ||= Number(/beanrun: listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1] ?? 0);
    }
  })();
  for (let i = 0; !port; i++) {
    if (i > 300 || proc.exitCode !== null) throw new Error(`server did not start: ${log.slice(-500)}`);
    await Bun.sleep(20);
  }
  // Let the JIT settle (two quiet 0.5 s chunks, at most 10 s), as bench/run.ts does.
  const t0 = performance.now();
  for (let quiet = 0; quiet < 2 && performance.now() - t0 < 10_000; ) {
    const j0 = jitSeconds(proc.pid);
    await loadgen(port, 0.5);
    quiet = jitSeconds(proc.pid) - j0 <= 0.01 ? quiet + 1 : 0;
  }
  const before = parseGcs(log).length;
  const r = await loadgen(port, SECS);
  await Bun.sleep(50);
  const all = parseGcs(log);
  const gcs = all.slice(before);
  proc.kill("SIGTERM");
  await proc.exited;
  let grownKb = 0;
  for (let i = 1; i < gcs.length; i++) grownKb += Math.max(0, gcs[i]!.startKb - gcs[i - 1]!.endKb);
  const pauses = gcs.map((g) => g.pauseMs).sort((a, b) => a - b);
  const sum = pauses.reduce((a, b) => a + b, 0);
  const between = Math.max(1, gcs.length - 1);
  console.log(`serve ${serveFlags.join(" ") || "(in memory)"}: ${CONNS} connections, ${BODY} B bodies, ${SECS} s measured`);
  console.log(`  cycles/s                  ${r.rate.toFixed(0)} (p99 ${(r.p99_us / 1000).toFixed(2)} ms)`);
  console.log(
    `  collections               ${gcs.length} (${gcs.filter((g) => g.eden).length} eden), ${((gcs.length / r.ops) * 1e5).toFixed(1)} per 100k cycles`,
  );
  // Each collection follows about one average growth: n collections ~ n x (growth per interval) bytes in the window.
  const perCycle = gcs.length > 1 ? ((grownKb * 1024) / between) * (gcs.length / r.ops) : NaN;
  console.log(`  heap allocated per cycle  ${Number.isNaN(perCycle) ? "-" : perCycle.toFixed(0)} B (heap growth between collections)`);
  console.log(
    `  pause per collection      p50 ${(pauses[pauses.length >> 1] ?? 0).toFixed(2)} ms, max ${(pauses[pauses.length - 1] ?? 0).toFixed(2)} ms; ${((sum / (SECS * 1000)) * 100).toFixed(2)}% of the window`,
  );
}

try {
  await main();
} finally {
  cleanup();
}
