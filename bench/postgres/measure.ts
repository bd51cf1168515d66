/**
 * What the PostgreSQL throughput bench measures and how it loads a system:
 * `spread` runs a number of jobs over concurrent closed-loop clients, and
 * `timer` times a piece of work and says what it cost per job (commits, WAL
 * flushes, CPU of PostgreSQL, of beanrun's front ends and of the bench
 * process), read from pg_stat and /proc. Split out of throughput.ts (the
 * 400-line rule); the figures are explained there.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import type { Cluster } from "../../test/postgres/cluster.ts";

/** Runs `jobs` units over `clients` concurrent loops. */
export async function spread(jobs: number, clients: number, one: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      while (next < jobs) {
        next++;
        await one(k);
      }
    }),
  );
}

/** utime + stime (with `kernelOnly`, stime) of a /proc/PID/stat, in ms; with `children`, also those of its reaped children. */
export function cpuOf(pid: number | "self", children: "own" | "reaped" | "both", kernelOnly = false): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s
      .slice(s.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // Fields after the name start at state (3): utime 14, stime 15, cutime 16, cstime 17.
    const own = (kernelOnly ? 0 : f[11]!) + f[12]!;
    const reaped = (kernelOnly ? 0 : f[13]!) + f[14]!;
    return ((children === "own" ? own : children === "reaped" ? reaped : own + reaped) * 1000) / TICKS;
  } catch {
    return 0;
  }
}
const TICKS = 100;

/** CPU ms of each thread of `pids`, summed by thread name (the main thread, JIT, GC, the allocator's scavenger...). */
export function threadCpu(pids: number[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {}
    for (const tid of tids) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = tid === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")).replace(/\d+$/, "");
        const f = s
          .slice(s.lastIndexOf(")") + 2)
          .split(" ")
          .map(Number);
        by.set(name, (by.get(name) ?? 0) + ((f[11]! + f[12]!) * 1000) / TICKS);
      } catch {}
    }
  }
  return by;
}

/** CPU ms of the whole cluster: the postmaster, its reaped children and its live ones (backends, walwriter, ...). */
export function clusterCpu(cluster: Cluster): number {
  const pm = Number(readFileSync(join(cluster.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
  let ms = cpuOf(pm, "both");
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      if (Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]) === pm) ms += cpuOf(Number(d), "own");
    } catch {}
  }
  return ms;
}

export interface Cost {
  rate: number;
  xacts: number;
  syncs: number;
  /** Mean duration of one WAL flush (ms; pg_stat_wal.wal_sync_time, track_wal_io_timing on). */
  syncMs: number;
  /** CPU ms per job: PostgreSQL, beanrun's front-end processes, this process (clients; graphile-worker's and pg-boss's workers). */
  cpu: { pg: number; fronts: number; frontsKernel: number; bench: number };
}

/**
 * Times `work` (JOBS jobs, after the system's warm-up): its rate, and per job
 * the commits in `db`, the WAL flushes (cluster-wide) and the CPU of the
 * cluster, of `fronts` (beanrun's front-end processes) and of this process.
 */
export type Timer = (fronts: number[], work: () => Promise<void>) => Promise<Cost>;

export function timer(cluster: Cluster, db: string, opts: { jobs: number; statements: boolean }): Timer {
  const JOBS = opts.jobs;
  return async (fronts, work) => {
    const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    const probe = async () => {
      await sql`select pg_stat_clear_snapshot()`;
      const [r] = await sql`select (select xact_commit from pg_stat_database where datname = ${db})::float8 as x,
        (select wal_sync from pg_stat_wal)::float8 as s, (select wal_sync_time from pg_stat_wal)::float8 as st`;
      return r!;
    };
    const cpuNow = () => ({
      pg: clusterCpu(cluster),
      fronts: fronts.reduce((t, pid) => t + cpuOf(pid, "own"), 0),
      frontsKernel: fronts.reduce((t, pid) => t + cpuOf(pid, "own", true), 0),
      bench: cpuOf("self", "own"),
    });
    await Bun.sleep(600); // the warm-up's statistics reach pg_stat (backends report at most every 500 ms)
    if (opts.statements) await sql`select pg_stat_statements_reset()`;
    const a = await probe();
    const cpu0 = cpuNow();
    const th0 = threadCpu(fronts);
    const t0 = performance.now();
    await work();
    const rate = JOBS / ((performance.now() - t0) / 1000);
    const cpu1 = cpuNow();
    const th1 = threadCpu(fronts);
    if (fronts.length)
      console.log(
        `    front ends' threads, CPU ms/job: ${[...th1]
          .map(([k, v]) => [k, (v - (th0.get(k) ?? 0)) / JOBS] as const)
          .filter(([, v]) => v >= 0.005)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(", ")}`,
      );
    await Bun.sleep(600);
    const b = await probe();
    if (opts.statements) {
      const top =
        await sql`select calls::float8 / ${JOBS} as per_job, rows::float8 / ${JOBS} as rows, total_exec_time::float8 / ${JOBS} as ms, regexp_replace(left(query, 110), '\\s+', ' ', 'g') as q
        from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = ${db} order by calls desc limit 12`;
      for (const r of top)
        console.log(
          `      ${(r.per_job as number).toFixed(2).padStart(6)}/job ${(r.rows as number).toFixed(2).padStart(6)} rows/job ${(r.ms as number).toFixed(3)} ms/job  ${r.q}`,
        );
    }
    await sql.end();
    const per = (k: keyof typeof cpu0) => (cpu1[k] - cpu0[k]) / JOBS;
    return {
      rate,
      xacts: (b.x - a.x) / JOBS,
      syncs: (b.s - a.s) / JOBS,
      syncMs: b.s > a.s ? (b.st - a.st) / (b.s - a.s) : 0,
      cpu: { pg: per("pg"), fronts: per("fronts"), frontsKernel: per("frontsKernel"), bench: per("bench") },
    };
  };
}
