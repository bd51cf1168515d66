/**
 * bench/run.ts's workloads: what each one runs on a server (through the load
 * generator), the metrics it reports, and the settling of a fresh server's
 * JIT before a measured window. Kept apart from the driver so that the file
 * stays under the house's 400 lines (issue 8).
 */
import { jitSeconds } from "./jit.ts";
import { type Options, usage } from "./options.ts";
import { ask, cpuSeconds, loadgen, rssMiB, type Server, sleep } from "./servers.ts";

export interface Metric {
  key: string; // e.g. "rate", "rss", "drain"
  label: string; // row label suffix
  unit: string;
  higherIsBetter: boolean;
}
export interface Sample {
  values: Record<string, number>;
  gen_cpu: number[];
  server_cpu?: number;
  /** CPU seconds of the server's JIT threads inside the measured window, and the seconds of load spent waiting for them first. */
  jit_cpu?: number;
  settle_s?: number;
  p50_us?: number;
  p99_us?: number;
  p999_us?: number;
  notes?: string[];
  idleRss?: number;
}
export interface Workload {
  id: string;
  group: string;
  title: string;
  metrics: Metric[];
  rounds: (o: Options) => number;
  serverArgs?: (dir: string) => string[];
  wal?: boolean;
  run: (s: Server, o: Options) => Promise<Sample>;
}

const RATE = (unit: string): Metric => ({ key: "rate", label: "", unit, higherIsBetter: true });
type Percentile = "p50" | "p99" | "p999";
const LATENCY = (p: Percentile): Metric => ({ key: p, label: `, ${p} cycle latency`, unit: "ms", higherIsBetter: false });
/**
 * Un-measured load until the server's JIT threads go quiet: Bun compiles hot
 * code on helper threads, pinned to the server's one core like the rest of
 * it, and in a fresh process that goes on for seconds (about 0.5 s of CPU on
 * this machine), which would otherwise land inside the measured window as
 * stolen time and tail latency. Chunks of 0.5 s of the same load, until two
 * chunks in a row cost the JIT threads at most one clock tick (10 ms) while
 * the rest of the server got at least 100 ms of CPU (on a busy machine a
 * starved JIT thread looks quiet too), or --settle-max seconds. beanstalkd
 * has no such threads: it gets two chunks, like every server.
 */
async function settle(s: Server, o: Options, args: string[]): Promise<number> {
  const t0 = performance.now();
  for (let quiet = 0; ; ) {
    const j0 = jitSeconds(s.proc.pid);
    const c0 = cpuSeconds(s.proc.pid);
    await loadgen(o, [args[0]!, String(s.port), ...args.slice(1), "-t", "0.5", "-w", "0"], 20);
    const secs = (performance.now() - t0) / 1000;
    const jit = jitSeconds(s.proc.pid) - j0;
    const rest = cpuSeconds(s.proc.pid) - c0 - jit;
    quiet = jit <= 0.01 && (rest >= 0.1 || !jitSeconds(s.proc.pid)) ? quiet + 1 : 0;
    if (quiet === 2 || secs >= o.settleMax) return secs;
  }
}

/** Runs a timed loadgen mode (after `settle`) and samples the server's CPU use around it. */
async function timed(s: Server, o: Options, args: string[]): Promise<Sample> {
  const settleS = await settle(s, o, args);
  const c0 = cpuSeconds(s.proc.pid),
    j0 = jitSeconds(s.proc.pid),
    t0 = performance.now();
  const r = await loadgen(
    o,
    [args[0]!, String(s.port), ...args.slice(1), "-t", String(o.secs), "-w", String(o.warmup)],
    o.secs + o.warmup + 20,
  );
  const serverCpu = (cpuSeconds(s.proc.pid) - c0) / ((performance.now() - t0) / 1000);
  const ms = (us: number | undefined) => (us === undefined ? NaN : us / 1000);
  return {
    values: { rate: r.rate, p50: ms(r.p50_us), p99: ms(r.p99_us), p999: ms(r.p999_us) },
    gen_cpu: [r.gen_cpu],
    server_cpu: serverCpu,
    jit_cpu: jitSeconds(s.proc.pid) - j0,
    settle_s: settleS,
    p50_us: r.p50_us,
    p99_us: r.p99_us,
    p999_us: r.p999_us,
  };
}

function cycleWorkload(conns: number, body: number, lat: Percentile[] = ["p99"]): Workload {
  const b = body >= 1024 ? `${body / 1024}KB` : `${body}B`;
  return {
    id: `cycle-${conns}c-${b}`,
    group: "cycle",
    title: `put>reserve>delete, ${conns} conn, ${b}`,
    metrics: [RATE("cycles/s"), ...lat.map(LATENCY)],
    rounds: (o) => o.rounds,
    run: (s, o) => timed(s, o, ["cycle", "-c", String(conns), "-s", String(body)]),
  };
}

function walWorkload(mode: "f0" | "f200" | "F", kind: "put" | "cycle", lat: Percentile[] = []): Workload {
  const flags = mode === "F" ? ["-F"] : ["-f", mode.slice(1)];
  return {
    id: `wal-${mode}-${kind}`,
    group: "wal",
    title: `-b ${flags.join(" ")}: ${kind === "put" ? "put" : "put>reserve>delete"}, 50 conn, 100B`,
    metrics: [RATE(kind === "put" ? "puts/s" : "cycles/s"), ...lat.map(LATENCY)],
    rounds: (o) => o.rounds,
    wal: true,
    serverArgs: (dir) => ["-b", dir, ...flags],
    run: (s, o) => timed(s, o, ["cycle", "-c", "50", "-s", "100", ...(kind === "put" ? ["-P"] : [])]),
  };
}

export const WORKLOADS: Workload[] = [
  cycleWorkload(1, 100),
  cycleWorkload(50, 100, ["p50", "p99", "p999"]),
  cycleWorkload(200, 100),
  cycleWorkload(1, 10240),
  cycleWorkload(50, 10240),
  cycleWorkload(200, 10240),
  {
    id: "pipe-64",
    group: "pipe",
    title: "pipelined puts, 1 conn, 64 in flight, 100B",
    metrics: [RATE("puts/s")],
    rounds: (o) => o.rounds,
    run: (s, o) => timed(s, o, ["pipe", "-d", "64", "-s", "100"]),
  },
  {
    id: "fill-drain",
    group: "fill",
    title: "", // titles come from the metrics
    metrics: [
      { key: "fill", label: "fill N jobs (100B, 64 in flight)", unit: "puts/s", higherIsBetter: true },
      { key: "rss", label: "RSS with N ready 100B jobs", unit: "MiB", higherIsBetter: false },
      { key: "drain", label: "drain N jobs (reserve+delete, 64 in flight)", unit: "jobs/s", higherIsBetter: true },
    ],
    rounds: (o) => o.fillRounds,
    run: async (s, o) => {
      const rss0 = rssMiB(s.proc.pid);
      const lim = String(o.maxSecs);
      const f = await loadgen(o, ["fill", String(s.port), "-n", String(o.jobs), "-s", "100", "-d", "64", "-t", lim], o.maxSecs + 20);
      await sleep(500);
      const rss = rssMiB(s.proc.pid);
      const ready = Number(/current-jobs-ready: (\d+)/.exec(await ask(s.port, "stats-tube default\r\n"))?.[1]);
      const notes: string[] = [];
      if (f.complete) {
        if (ready !== o.jobs) throw new Error(`${s.name}: after the fill, current-jobs-ready is ${ready}, expected ${o.jobs}`);
      } else {
        notes.push(
          `${s.name}: fill stopped at the ${o.maxSecs}s limit after ${f.ops} of ${o.jobs} jobs (rate and RSS are for ${ready} jobs)`,
        );
      }
      const d = await loadgen(o, ["drain", String(s.port), "-n", String(ready), "-d", "64", "-t", lim], o.maxSecs + 20);
      if (d.complete) {
        const left = Number(/current-jobs-ready: (\d+)/.exec(await ask(s.port, "stats-tube default\r\n"))?.[1]);
        if (left !== 0) throw new Error(`${s.name}: after the drain, current-jobs-ready is ${left}, expected 0`);
      } else {
        notes.push(`${s.name}: drain stopped at the ${o.maxSecs}s limit after ${d.ops} of ${ready} jobs`);
      }
      return { values: { fill: f.rate, rss, drain: d.rate }, gen_cpu: [f.gen_cpu, d.gen_cpu], notes, idleRss: rss0 };
    },
  },
  walWorkload("f0", "put"),
  walWorkload("f0", "cycle", ["p50", "p99"]),
  walWorkload("f200", "put"),
  walWorkload("f200", "cycle"),
  walWorkload("F", "put"),
  walWorkload("F", "cycle"),
];

export function selected(o: Options): Workload[] {
  if (!o.only.length) return WORKLOADS;
  const ws = WORKLOADS.filter((w) => o.only.some((k) => w.group === k || w.id === k || w.id.startsWith(k)));
  if (!ws.length) usage(`--only ${o.only.join(",")} matches no workload (try --list)`);
  return ws;
}
