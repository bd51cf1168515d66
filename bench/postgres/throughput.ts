/**
 * put -> reserve -> delete through 1, 2 and 3 beanrun front ends on one
 * PostgreSQL database, against graphile-worker (as it comes, and batched as
 * its performance docs recommend) and pg-boss (LISTEN/NOTIFY and batch
 * fetching, as its docs recommend) doing the same work (enqueue one job at a
 * time from CLIENTS producers, CLIENTS concurrent consumers, complete each
 * job) on the same cluster, side by side in one run, alternating, medians of
 * the rounds. Each system first handles --warmup jobs untimed on the same
 * processes and connections; the clock stops when the last job's
 * delete/completion is committed. Then the wake-up latency across front ends
 * (a reserve waiting on B, a put through A). synchronous_commit is on (and
 * fsync): every acknowledged job is on disk for all three systems.
 *
 *   bun bench/postgres/throughput.ts [--jobs N] [--rounds R] [--clients C] [--warmup N]
 *     [--only bean1,bean2,bean3,graphile,graphileb,pgboss] [--wake ROUNDS (0: none)]
 *     [--sync-reserve] [--statements]
 *
 * `--only wake` runs the wake-up measurement alone. `--sync-reserve` makes
 * beanrun's reservations wait for the WAL flush too (BEANRUN_PG_SYNC_RESERVE=1).
 * Each system's line also says, per job, how many transactions
 * (pg_stat_database.xact_commit of its database) and WAL flushes
 * (pg_stat_wal.wal_sync) it cost, and the CPU time of PostgreSQL, of
 * beanrun's front ends and of this process (the clients, and graphile-worker's
 * and pg-boss's workers): on a loaded machine the CPU per job is steadier
 * than the rate. `--statements` lists each system's statements per job
 * (pg_stat_statements).
 *
 * A throwaway cluster (test/postgres/cluster.ts) is started and removed.
 * Figures on a shared 2-core machine are noisy: read the ratios.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeWorkerUtils, run as runGraphile } from "graphile-worker";
import { PgBoss } from "pg-boss";
import postgres from "postgres";
import { type Cluster, startCluster } from "../../test/postgres/cluster.ts";
import { Wire } from "../../test/support/wire.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "3000" },
    rounds: { type: "string", default: "2" },
    clients: { type: "string", default: "16" },
    warmup: { type: "string", default: "300" },
    only: { type: "string", default: "" },
    wake: { type: "string", default: "200" },
    "sync-reserve": { type: "boolean", default: false },
    statements: { type: "boolean", default: false },
  },
});
const ONLY = values.only ? values.only.split(",") : [];
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const CLIENTS = Number(values.clients);
/** Jobs each system handles before the timed ones (JIT, caches, pools), on the same processes and connections. */
const WARMUP = Number(values.warmup);
const ROOT = join(import.meta.dir, "../..");

interface Front {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startFront(url: string): Promise<Front> {
  // BENCH_FRONT_FLAGS: runtime flags for the front ends (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const flags = (process.env.BENCH_FRONT_FLAGS ?? "").split(" ").filter(Boolean);
  const env = values["sync-reserve"] ? { ...process.env, BEANRUN_PG_SYNC_RESERVE: "1" } : process.env;
  const proc = Bun.spawn([process.execPath, ...flags, join(ROOT, "runtime/cli.ts"), "serve", "-p", "0", "--store", url], {
    env,
    stderr: "pipe",
    stdout: "ignore",
  });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`front end did not start: ${text}`);
    text += new TextDecoder().decode(value);
    const m = /listening on [^\s]+:(\d+)/.exec(text);
    if (m) {
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return { port: Number(m[1]), pid: proc.pid, stop: async () => void (proc.kill(), await proc.exited) };
    }
  }
}

/** Runs `jobs` units over `clients` concurrent loops. */
async function spread(jobs: number, clients: number, one: (k: number) => Promise<void>): Promise<void> {
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

/** utime + stime of a /proc/PID/stat, in ms; with `children`, also those of its reaped children. */
function cpuOf(pid: number | "self", children: "own" | "reaped" | "both"): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s
      .slice(s.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // Fields after the name start at state (3): utime 14, stime 15, cutime 16, cstime 17.
    const own = f[11]! + f[12]!;
    const reaped = f[13]! + f[14]!;
    return ((children === "own" ? own : children === "reaped" ? reaped : own + reaped) * 1000) / TICKS;
  } catch {
    return 0;
  }
}
const TICKS = 100;

/** CPU ms of the whole cluster: the postmaster, its reaped children and its live ones (backends, walwriter, ...). */
function clusterCpu(cluster: Cluster): number {
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

interface Cost {
  rate: number;
  xacts: number;
  syncs: number;
  /** CPU ms per job: PostgreSQL, beanrun's front-end processes, this process (clients; graphile-worker's and pg-boss's workers). */
  cpu: { pg: number; fronts: number; bench: number };
}

/**
 * Times `work` (JOBS jobs, after the system's warm-up): its rate, and per job
 * the commits in `db`, the WAL flushes (cluster-wide) and the CPU of the
 * cluster, of `fronts` (beanrun's front-end processes) and of this process.
 */
type Timer = (fronts: number[], work: () => Promise<void>) => Promise<Cost>;

function timer(cluster: Cluster, db: string): Timer {
  return async (fronts, work) => {
    const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    const probe = async () => {
      await sql`select pg_stat_clear_snapshot()`;
      const [r] = await sql`select (select xact_commit from pg_stat_database where datname = ${db})::float8 as x,
        (select wal_sync from pg_stat_wal)::float8 as s`;
      return r!;
    };
    const cpuNow = () => ({
      pg: clusterCpu(cluster),
      fronts: fronts.reduce((t, pid) => t + cpuOf(pid, "own"), 0),
      bench: cpuOf("self", "own"),
    });
    await Bun.sleep(600); // the warm-up's statistics reach pg_stat (backends report at most every 500 ms)
    if (values.statements) await sql`select pg_stat_statements_reset()`;
    const a = await probe();
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await work();
    const rate = JOBS / ((performance.now() - t0) / 1000);
    const cpu1 = cpuNow();
    await Bun.sleep(600);
    const b = await probe();
    if (values.statements) {
      const top =
        await sql`select calls::float8 / ${JOBS} as per_job, total_exec_time::float8 / ${JOBS} as ms, regexp_replace(left(query, 110), '\\s+', ' ', 'g') as q
        from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = ${db} order by calls desc limit 12`;
      for (const r of top)
        console.log(`      ${(r.per_job as number).toFixed(2).padStart(6)}/job ${(r.ms as number).toFixed(3)} ms/job  ${r.q}`);
    }
    await sql.end();
    const per = (k: keyof typeof cpu0) => (cpu1[k] - cpu0[k]) / JOBS;
    return {
      rate,
      xacts: (b.x - a.x) / JOBS,
      syncs: (b.s - a.s) / JOBS,
      cpu: { pg: per("pg"), fronts: per("fronts"), bench: per("bench") },
    };
  };
}

const dbName = (url: string) => new URL(url).pathname.slice(1);

/** beanrun: CLIENTS producer and CLIENTS consumer connections spread round-robin over `fronts` front ends. */
async function beanrun(url: string, fronts: number, time: Timer): Promise<Cost> {
  const fe: Front[] = [];
  for (let i = 0; i < fronts; i++) fe.push(await startFront(url));
  const producers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  const consumers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  let timedOut = 0;
  const cycle = async (jobs: number) => {
    let done = 0;
    const consume = Promise.all(
      consumers.map(async (w) => {
        while (done < jobs) {
          const r = await w.cmd("reserve-with-timeout 1\r\n", 30_000);
          if (!r.startsWith("RESERVED")) {
            timedOut++;
            continue;
          }
          const id = /RESERVED (\d+)/.exec(r)![1];
          if ((await w.cmd(`delete ${id}\r\n`, 30_000)) === "DELETED\r\n") done++;
        }
      }),
    );
    await spread(jobs, CLIENTS, async (k) => {
      const r = await producers[k]!.cmd('put 0 0 60 16\r\n{"n":1234567890}\r\n', 30_000);
      if (!r.startsWith("INSERTED")) throw new Error(`put: ${r}`);
    });
    await consume;
  };
  await cycle(WARMUP);
  timedOut = 0;
  const cost = await time(
    fe.map((f) => f.pid),
    () => cycle(JOBS),
  );
  // A reserve that timed out while jobs were coming in was a missed wake-up (the last ones are the end of the run).
  if (timedOut > CLIENTS) console.log(`    ${timedOut} reserves timed out (a wake-up missed?)`);
  for (const w of [...producers, ...consumers]) w.close();
  await Promise.all(fe.map((f) => f.stop()));
  return cost;
}

/** Polls `sql` until `query` (a count) is 0: the jobs' completions are committed, as beanrun's DELETED is. */
async function drained(url: string, query: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    while (Number((await sql.unsafe(query))[0]!.n) > 0) await Bun.sleep(5);
  } finally {
    await sql.end();
  }
}

/** Counts handled jobs; `until(n)` resolves when n more were handled. */
function counter(): { add(n: number): void; until(n: number): Promise<void> } {
  let done = 0;
  let target = Infinity;
  let finish = () => {};
  return {
    add(n) {
      done += n;
      if (done >= target) finish();
    },
    until(n) {
      target = done + n;
      return new Promise<void>((r) => (finish = r));
    },
  };
}

/**
 * graphile-worker: CLIENTS producers calling addJob (each on a pooled
 * connection), a runner with concurrency CLIENTS. `batched`: what its
 * performance docs recommend for throughput (worker.graphile.org/docs/performance):
 * a local queue of concurrency + 1 jobs fetched at once, completions batched
 * (completeJobBatchDelay 0). The clock stops when every job's completion is
 * committed (graphile-worker completes a job after the task returned, without
 * waiting), so all systems are timed to the same durable end.
 */
async function graphile(url: string, batched: boolean, time: Timer): Promise<Cost> {
  const handled = counter();
  const { Logger } = await import("graphile-worker");
  const logger = new Logger(() => (level: string, msg: string) => void (level === "error" && console.error(msg)));
  // The same concurrency as the others: CLIENTS producers (each needs a pooled connection for addJob), CLIENTS workers.
  const utils = await makeWorkerUtils({ connectionString: url, logger, maxPoolSize: CLIENTS });
  await utils.migrate();
  const runner = await runGraphile({
    connectionString: url,
    concurrency: CLIENTS,
    maxPoolSize: CLIENTS + 2,
    noHandleSignals: true,
    pollInterval: 1000,
    logger,
    taskList: { t: async () => handled.add(1) },
    ...(batched ? { preset: { worker: { localQueue: { size: CLIENTS + 1 }, completeJobBatchDelay: 0 } } } : {}),
  });
  const cycle = async (jobs: number) => {
    const all = handled.until(jobs);
    await spread(jobs, CLIENTS, async () => void (await utils.addJob("t", { n: 1234567890 })));
    await all;
    await drained(url, "select count(*) as n from graphile_worker._private_jobs");
  };
  await cycle(WARMUP);
  const cost = await time([], () => cycle(JOBS));
  await runner.stop();
  await utils.release();
  return cost;
}

/**
 * pg-boss, configured for throughput as its docs say: LISTEN/NOTIFY on
 * (useListenNotify, a queue with notify), batches of CLIENTS jobs per fetch,
 * fetching again at once while batches come back full. The clock stops when
 * every job is completed in the database.
 */
async function pgboss(url: string, time: Timer): Promise<Cost> {
  const boss = new PgBoss({ connectionString: url, useListenNotify: true, max: CLIENTS + 4 });
  boss.on("error", (e) => console.error("pg-boss:", e));
  await boss.start();
  await boss.createQueue("q", { notify: true });
  const handled = counter();
  await boss.work("q", { batchSize: CLIENTS, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs: unknown[]) =>
    handled.add(jobs.length),
  );
  const cycle = async (jobs: number) => {
    const all = handled.until(jobs);
    await spread(jobs, CLIENTS, async () => void (await boss.send("q", { n: 1234567890 })));
    await all;
    await drained(url, "select count(*) as n from pgboss.job where name = 'q' and state <> 'completed'");
  };
  await cycle(WARMUP);
  const cost = await time([], () => cycle(JOBS));
  await boss.stop({ graceful: false, wait: true } as never);
  return cost;
}

/** Per round: put sent -> INSERTED on A (the commit), and put sent -> RESERVED on B (commit, NOTIFY, B's reserve). */
async function wakeLatency(cluster: Cluster, rounds: number): Promise<{ wake: number[]; commit: number[] }> {
  const url = await cluster.database();
  const [a, b] = [await startFront(url), await startFront(url)];
  const pa = await Wire.open(a.port);
  const rb = await Wire.open(b.port);
  const wake: number[] = [];
  const commit: number[] = [];
  for (let i = 0; i < rounds; i++) {
    rb.send("reserve\r\n");
    await Bun.sleep(20);
    const t0 = performance.now();
    pa.send("put 0 0 60 1\r\nx\r\n");
    const [got] = await Promise.all([
      rb.reply(10_000).then((r) => (wake.push(performance.now() - t0), r)),
      pa.reply(10_000).then(() => commit.push(performance.now() - t0)),
    ]);
    await rb.cmd(`delete ${/RESERVED (\d+)/.exec(got)![1]}\r\n`);
  }
  pa.close();
  rb.close();
  await a.stop();
  await b.stop();
  return { wake, commit };
}

const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

// --statements: what each system ran, per job (pg_stat_statements; costs a little itself).
const cluster = await startCluster(
  values.statements ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_utility=on"] : [],
);
if (values.statements) {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  await sql`create extension pg_stat_statements`;
  await sql.end();
}
try {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  const [s] = await sql`select current_setting('synchronous_commit') as sc, current_setting('fsync') as f, version() as v`;
  await sql.end();
  console.log(
    `${JOBS} jobs, ${CLIENTS} producers + ${CLIENTS} consumers, ${ROUNDS} rounds; synchronous_commit=${s!.sc} fsync=${s!.f}; ${String(s!.v).split(" on ")[0]}; beanrun reserves ${values["sync-reserve"] ? "wait for the WAL flush" : "commit without waiting for the flush"}`,
  );
  const all: [string, (url: string, time: Timer) => Promise<Cost>][] = [
    ["beanrun, 1 front end", (u, t) => beanrun(u, 1, t)],
    ["beanrun, 2 front ends", (u, t) => beanrun(u, 2, t)],
    ["beanrun, 3 front ends", (u, t) => beanrun(u, 3, t)],
    ["graphile-worker", (u, t) => graphile(u, false, t)],
    ["graphile-worker, batched", (u, t) => graphile(u, true, t)],
    ["pg-boss", pgboss],
  ];
  const keys = ["bean1", "bean2", "bean3", "graphile", "graphileb", "pgboss"];
  const systems = all.filter((_, i) => !ONLY.length || ONLY.includes(keys[i]!));
  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of r % 2 ? [...systems].reverse() : systems) {
      const url = await cluster.database();
      const { rate, xacts, syncs, cpu } = await fn(url, timer(cluster, dbName(url)));
      (results.get(name) ?? results.set(name, []).get(name)!).push(rate);
      console.log(
        `  round ${r + 1}: ${name.padEnd(24)} ${rate.toFixed(0).padStart(7)} jobs/s   ${xacts.toFixed(2)} commits/job, ${syncs.toFixed(2)} WAL flushes/job, ` +
          `CPU ms/job: PostgreSQL ${cpu.pg.toFixed(2)}, front ends ${cpu.fronts.toFixed(2)}, clients+workers ${cpu.bench.toFixed(2)}`,
      );
    }
  }
  if (systems.length) {
    const ref = ["graphile-worker", "graphile-worker, batched", "pg-boss"].map((n) => results.get(n)).filter((x) => x !== undefined);
    const best = ref.length ? Math.max(...ref.map(med)) : Number.NaN;
    console.log("\nmedians (put -> reserve -> delete, jobs/s):");
    for (const [name, rates] of results) {
      const m = med(rates);
      console.log(`  ${name.padEnd(24)} ${m.toFixed(0).padStart(7)}   ${(m / best).toFixed(2)}x the better of graphile-worker and pg-boss`);
    }
  }
  if (Number(values.wake) > 0) {
    const { wake, commit } = await wakeLatency(cluster, Number(values.wake));
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
    console.log(`\nwake-up across front ends (reserve waiting on B, put through A), ${wake.length} rounds: ${f(wake)}`);
    console.log(`  of which the put's own commit (INSERTED on A): ${f(commit)}`);
  }
} finally {
  await cluster.stop();
}
