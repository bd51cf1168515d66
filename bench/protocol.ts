#!/usr/bin/env bun
/**
 * The protocol layer in one process, no sockets: CPU microseconds per
 * put/reserve/delete cycle (one read each) and per pipelined put (64 per
 * read), and the JavaScript objects one cycle allocates once the code is
 * optimized (heap cells counted by type before and after 20,000 cycles,
 * after a full collection: what parsing, dispatch and the queue allocate,
 * without the Buffer a socket read costs), for this checkout and, with --reference DIR,
 * another one, run alternately in fresh processes. It isolates parsing, dispatch and the
 * queue from the kernel's TCP path, and counts CPU time rather than wall
 * time, so a busy machine disturbs it less than bench/run.ts (it still
 * does: read the spread of the pair ratios).
 *
 *   bun bench/protocol.ts [--reference DIR] [--pairs N]
 */
import { fullGC, heapStats } from "bun:jsc";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const N = 150_000;
const GARBAGE_CYCLES = 20_000;

/** Heap cells now (JavaScriptCore counts cells allocated since the last collection too). */
function cells(): number {
  let n = 0;
  for (const v of Object.values(heapStats().objectTypeCounts)) n += v;
  return n;
}

/** Objects allocated per cycle, with a settle that allocates nothing; the count's own cost is taken off. */
function garbage(conn: { onData(b: Uint8Array): void }, cycles: Uint8Array[], marked: { flush(): void; resume?(): void }[]): number {
  const settle = () => {
    for (let i = 0; i < marked.length; i++) {
      marked[i]!.resume?.();
      marked[i]!.flush();
    }
    marked.length = 0;
  };
  fullGC();
  const probe0 = cells();
  const c0 = cells();
  for (const c of cycles) {
    conn.onData(c);
    settle();
  }
  const c1 = cells();
  return Math.max(0, c1 - c0 - (c0 - probe0)) / cycles.length;
}

/** One measurement in this process, against the checkout at `root`. */
async function measure(root: string): Promise<{ cycleUs: number; putUs: number; cycleObjects: number }> {
  const { Connection } = await import(join(root, "runtime/protocol/connection.ts"));
  const { Queue } = await import(join(root, "runtime/queue/queue.ts"));
  const queue = new Queue({ maxJobSize: 65535 });
  const marked: { flush(): void; resume?(): void }[] = [];
  const host = { pid: 1, version: "b", hostname: "h", os: "o", platform: "p", instanceId: "0", cpuUsage: () => ({ user: 0, system: 0 }) };
  const ctx = {
    queue,
    ops: new Float64Array(64),
    host,
    compat: "1.13",
    log: () => {},
    markDirty: (c: never) => void marked.push(c),
    markRunnable: (c: never) => void marked.push(c),
  };
  const sock = { write: (_d: Uint8Array, s: number, e: number) => e - s, end() {}, pause() {}, resume() {} };
  const conn = new Connection(ctx, sock);
  const settle = () => {
    for (const m of marked.splice(0)) {
      m.resume?.();
      m.flush();
    }
  };
  const cycles: Uint8Array[] = [];
  for (let i = 1; i <= 2 * N + GARBAGE_CYCLES; i++) cycles.push(Buffer.from(`put 0 0 60 5\r\nhello\r\nreserve\r\ndelete ${i}\r\n`));
  const pipe = Buffer.from(`put 0 0 60 100\r\n${"x".repeat(100)}\r\n`.repeat(64), "latin1");
  const cpu = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const run = (from: number) => {
    const t0 = cpu();
    for (let i = 0; i < N; i++) {
      conn.onData(cycles[from + i]!);
      settle();
    }
    const t1 = cpu();
    for (let i = 0; i < 1500; i++) {
      conn.onData(pipe);
      settle();
    }
    return { cycleUs: (t1 - t0) / N, putUs: (cpu() - t1) / (1500 * 64) };
  };
  run(0); // JIT warm-up
  const result = { ...run(N), cycleObjects: garbage(conn, cycles.slice(2 * N), marked) };
  queue.stop(); // the TTR timer of the last reservation would keep the process alive
  return result;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const args = process.argv.slice(2);
if (args[0] === "--child") {
  console.log(JSON.stringify(await measure(args[1]!)));
} else {
  const ref = args.includes("--reference") ? resolve(args[args.indexOf("--reference") + 1]!) : null;
  const pairs = args.includes("--pairs") ? Number(args[args.indexOf("--pairs") + 1]) : 6;
  const once = (root: string) => {
    const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", root], { stderr: "inherit" });
    return JSON.parse(p.stdout.toString()) as { cycleUs: number; putUs: number; cycleObjects: number };
  };
  const ours: { cycleUs: number; putUs: number; cycleObjects: number }[] = [];
  const theirs: { cycleUs: number; putUs: number; cycleObjects: number }[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so slow drift affects both alike.
    if (ref && i % 2) theirs.push(once(ref));
    ours.push(once(ROOT));
    if (ref && !(i % 2)) theirs.push(once(ref));
  }
  for (const k of ["cycleUs", "putUs"] as const) {
    const a = ours.map((x) => x[k]);
    const label = k === "cycleUs" ? "put/reserve/delete cycle" : "pipelined put";
    let line = `${label.padEnd(25)} ${median(a).toFixed(2)} us CPU`;
    if (ref) {
      const b = theirs.map((x) => x[k]);
      const ratios = a.map((x, i) => x / b[i]!);
      line += `  reference ${median(b).toFixed(2)} us  ratio (median of pairs) ${median(ratios).toFixed(2)}  [${ratios.map((r) => r.toFixed(2)).join(" ")}]`;
    }
    console.log(line);
  }
  const objs = (xs: { cycleObjects: number }[]) => median(xs.map((x) => x.cycleObjects)).toFixed(2);
  console.log(
    `objects per cycle         ${objs(ours)}${ref ? `  reference ${objs(theirs)}` : ""} (allocated by the protocol and the queue; 0 = none)`,
  );
}
